"""Login and disconnect of a socket (docs/protocol.md, Login; Notifications:
socketConnectEcho, socketDisconnectEcho)."""
import asyncio
import logging

from chatproject import metrics
from chatproject.common.clock import now_ms
from chatproject.common.errors import ChatServiceError, as_service_error
from chatproject.common.names import check_name

from .locks import room_lock
from .login import default_on_connect, resolve_session_user

logger = logging.getLogger("chat")


class Connections:
    """The login and disconnect procedures. A part of `ChatService`."""

    async def login(self, socket):
        """Decide the login of a new socket (a `ServiceSocket`): its user name once
        confirmed, None when rejected."""
        socket_id = socket.socket_id
        recorded = False
        try:
            await resolve_session_user(socket.scope)
            on_connect = self.hooks.get("on_connect") or default_on_connect
            outcome = await on_connect(self, socket_id)
            user_name, auth_data = outcome if isinstance(outcome, tuple) else (outcome, {})
            if user_name is None or user_name == "":
                raise ChatServiceError("noLogin")
            check_name(user_name)
            nconnected = await self.messaging.add_login(user_name, socket_id, self.instance_uid, now_ms())
            recorded = True
            limit = self.options.max_connections_per_user
            if limit and nconnected > limit:
                raise ChatServiceError("tooManyConnections", limit)
            if socket.closed:
                raise ChatServiceError("noSocket", "connection")
            await self.hub.add_socket(socket, user_name)
        except Exception as exc:
            if recorded:
                try:
                    await self.presence.remove_socket_records(socket_id)
                except Exception:
                    logger.exception("could not undo a failed login")
            if not isinstance(exc, ChatServiceError):
                logger.exception("login failed")
            error = as_service_error(exc)
            metrics.login(error.code)
            await socket.reject(error)
            return None
        if nconnected > 1:  # the echo goes to the user's other sockets only: none, no publish
            await self.notify_user(user_name, "socketConnectEcho", [socket_id, nconnected], exclude=socket_id)
        await socket.confirm(user_name, {**(auth_data or {}), "id": socket_id})
        metrics.login("accepted")
        metrics.connection_opened(socket.transport_name)
        return user_name

    async def disconnect_socket(self, socket_id, user_name, run_hook=True):
        """The disconnect procedure (docs/protocol.md, Notifications: socketDisconnectEcho)."""
        if self._hub is not None:
            await self.hub.remove_socket(socket_id)
        on_disconnect = self.hooks.get("on_disconnect") if run_hook else None
        try:
            rooms, nconnected = await self.presence.begin_disconnect(socket_id)
        except Exception as exc:
            await self._socket_records_failed(exc, socket_id, user_name, on_disconnect)
            return
        done = []
        if rooms:
            outcomes = await asyncio.gather(
                *(self._disconnect_from_room(socket_id, user_name, room_id, name) for room_id, name in rooms)
            )
            done = [outcome for outcome in outcomes if outcome is not None]
            try:
                nconnected = await self.presence.remove_socket_records(socket_id)
            except Exception as exc:
                await self._socket_records_failed(exc, socket_id, user_name, on_disconnect)
                return
        if nconnected > 0:  # the user's remaining sockets; none, no publish
            await self.notify_user(user_name, "socketDisconnectEcho", [socket_id, nconnected], exclude=socket_id)
        if on_disconnect:
            await self._call_quietly(
                on_disconnect,
                self,
                {
                    "id": socket_id,
                    "nconnected": nconnected,
                    "rooms_removed": [name for name, _ in done],
                    "joined_sockets": [count for _, count in done],
                },
            )

    async def _socket_records_failed(self, exc, socket_id, user_name, on_disconnect):
        """The socket's records could not be read or deleted: reported
        (docs/hooks-and-python-api.md, Consistency events)."""
        self.emit("storeConsistencyFailure", exc, {"user_name": user_name, "id": socket_id, "op_type": "userSockets"})
        if on_disconnect:
            await self._call_quietly(on_disconnect, self, {"id": socket_id})

    async def _disconnect_from_room(self, socket_id, user_name, room_id, room_name):
        try:
            async with room_lock(self, user_name, room_name):
                try:
                    njoined, attached = await self.presence.detach_socket(room_id, user_name, socket_id)
                except Exception as exc:
                    self.emit(
                        "storeConsistencyFailure", exc,
                        {"user_name": user_name, "room_name": room_name, "op_type": "userRooms"},
                    )
                    return None
                await self._leave_group(socket_id, user_name, room_name)
                await self._on_leave(socket_id, room_name, njoined)
                await self.notify_user(user_name, "roomLeftEcho", [room_name, socket_id, njoined], exclude=socket_id)
                if njoined == 0:
                    await self._remove_from_userlist(room_id, room_name, user_name)
                    await self._announce_user_left(await self.rooms.get_room_by_id(room_id), user_name)
                return room_name, njoined
        except ChatServiceError:
            logger.exception("disconnect of %s from %r failed", socket_id, room_name)
            return None
