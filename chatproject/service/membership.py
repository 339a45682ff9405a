"""Rooms and their members: join, leave and removal procedures, room groups of
sockets, and notifications to rooms and users (docs/protocol.md, Rules common
to all commands, roomJoin, roomLeave, Delivery and ordering)."""
import asyncio
import logging

from chatproject.common.clock import now_ms
from chatproject.common.errors import ChatServiceError, internal_error
from rooms.permissions import has_room_access

from .jsonrpc import notification_text
from .locks import room_lock

logger = logging.getLogger("chat")


class Membership:
    """The presence procedures of joining, leaving and removal. A part of `ChatService`."""

    async def _publish(self, send, info):
        try:
            await send
        except Exception as exc:
            self.emit("transportConsistencyFailure", exc, {**info, "op_type": "publish"})

    async def notify_room(self, room_name, method, params, exclude=None, user_name=None):
        text = notification_text(method, params)
        await self._publish(
            self.hub.publish_room(room_name, text, exclude), {"user_name": user_name, "room_name": room_name}
        )

    async def notify_user(self, user_name, method, params, exclude=None):
        text = notification_text(method, params)
        await self._publish(self.hub.publish_user(user_name, text, exclude), {"user_name": user_name})

    async def _join_group(self, socket_id, room_name):
        hub = self.hub
        if hub.is_local(socket_id):
            await hub.join_room(socket_id, room_name)
        else:
            instance_uid = await self.presence.socket_instance(socket_id)
            if instance_uid is not None:
                await hub.send_control(instance_uid, socket_id, "join", room_name)

    async def _leave_group(self, socket_id, user_name, room_name):
        hub = self.hub
        try:
            if hub.is_local(socket_id):
                await hub.leave_room(socket_id, room_name)
            else:
                instance_uid = await self.presence.socket_instance(socket_id)
                if instance_uid is not None:
                    await hub.send_control(instance_uid, socket_id, "leave", room_name)
        except Exception as exc:
            self.emit(
                "transportConsistencyFailure", exc,
                {"user_name": user_name, "room_name": room_name, "id": socket_id, "op_type": "transportChannel"},
            )

    async def join_room(self, user_name, socket_id, room_name, is_local_call):
        room = await self.rooms.get_room(room_name)
        async with room_lock(self, user_name, room_name):
            if not await self.presence.socket_connected(socket_id, user_name):
                raise ChatServiceError("invalidSocket", socket_id)
            if not has_room_access(room, user_name, await self.rooms.lists_of(room.id, user_name)):
                raise ChatServiceError("notAllowed")
            self.check_layer_available()
            await self.presence.userlist_add(room.id, user_name, now_ms())
            try:
                njoined, attached = await self.presence.attach_socket(room.id, user_name, socket_id)
            except Exception:
                await self._rollback_join(room, user_name, socket_id)
                raise
            try:
                await self._join_group(socket_id, room_name)
            except Exception:
                logger.exception("joining the room group failed")
                await self._rollback_join(room, user_name, socket_id)
                raise internal_error() from None
            if attached:
                on_join = self.hooks.get("on_join")
                if on_join:
                    try:
                        await on_join(self, {"id": socket_id, "room_name": room_name, "njoined": njoined})
                    except Exception:
                        await self._rollback_join(room, user_name, socket_id)
                        raise
                if njoined == 1 and room.enable_userlist_updates:
                    await self.notify_room(room_name, "roomUserJoined", [room_name, user_name], exclude=socket_id)
                await self.notify_user(
                    user_name, "roomJoinedEcho", [room_name, socket_id, njoined],
                    exclude=None if is_local_call else socket_id,
                )
            return njoined

    async def _rollback_join(self, room, user_name, socket_id):
        try:
            njoined, _ = await self.presence.detach_socket(room.id, user_name, socket_id)
        except Exception as exc:
            self.emit("storeConsistencyFailure", exc, {"user_name": user_name, "room_name": room.name, "op_type": "userRooms"})
            await self._leave_group(socket_id, user_name, room.name)
            return
        await self._leave_group(socket_id, user_name, room.name)
        if njoined == 0:
            await self._remove_from_userlist(room.id, room.name, user_name)

    async def _remove_from_userlist(self, room_id, room_name, user_name):
        """Leave the userlist, stamping the seen time; a store failure is reported, not raised."""
        try:
            await self.presence.userlist_remove(room_id, user_name, now_ms())
        except Exception as exc:
            self.emit("storeConsistencyFailure", exc, {"user_name": user_name, "room_name": room_name, "op_type": "roomUserlist"})

    async def _announce_user_left(self, room, user_name):
        if room is not None and room.enable_userlist_updates:
            await self.notify_room(room.name, "roomUserLeft", [room.name, user_name])

    async def _on_leave(self, socket_id, room_name, njoined):
        on_leave = self.hooks.get("on_leave")
        if on_leave:
            await self._call_quietly(on_leave, self, {"id": socket_id, "room_name": room_name, "njoined": njoined})

    async def leave_room(self, user_name, socket_id, room_name, is_local_call):
        room = await self.rooms.get_room(room_name)
        async with room_lock(self, user_name, room_name):
            njoined, attached = await self.presence.detach_socket(room.id, user_name, socket_id)
            await self._leave_group(socket_id, user_name, room_name)
            if njoined == 0:
                await self._remove_from_userlist(room.id, room_name, user_name)
            if attached:
                await self.notify_user(
                    user_name, "roomLeftEcho", [room_name, socket_id, njoined],
                    exclude=None if is_local_call else socket_id,
                )
                if njoined == 0:
                    await self._announce_user_left(room, user_name)
                await self._on_leave(socket_id, room_name, njoined)
            return njoined

    async def remove_user_from_room(self, room, user_name):
        """The removal procedure (docs/protocol.md, Rules common to all commands)."""
        async with room_lock(self, user_name, room.name):
            try:
                socket_ids = await self.presence.detach_user_from_room(room.id, user_name)
            except Exception as exc:
                self.emit("storeConsistencyFailure", exc, {"user_name": user_name, "room_name": room.name, "op_type": "roomUserlist"})
                socket_ids = []
            for socket_id in socket_ids:
                await self._leave_group(socket_id, user_name, room.name)
            if socket_ids:
                for socket_id in socket_ids:
                    await self._on_leave(socket_id, room.name, 0)
                await self.notify_user(user_name, "roomAccessRemoved", [room.name])
                await self._announce_user_left(room, user_name)
            await self._remove_from_userlist(room.id, room.name, user_name)

    async def recheck_access(self, room, user_names):
        """Remove the named present users who no longer pass the access rule."""
        present = set(await self.presence.userlist(room.id)) & set(user_names)
        for user_name in sorted(present):
            try:
                allowed = await self.rooms.check_access(room.id, user_name)
            except Exception as exc:
                self.emit("storeConsistencyFailure", exc, {"user_name": user_name, "room_name": room.name, "op_type": "roomUserlist"})
                continue
            if not allowed:
                await self.remove_user_from_room(room, user_name)

    async def remove_room(self, room_name):
        """roomDelete steps 4-6: hide the room, remove everyone, delete it."""
        room = await self.rooms.mark_deleting(room_name)
        members = await self.presence.userlist(room.id)
        await asyncio.gather(*(self.remove_user_from_room(room, user_name) for user_name in members))
        await self.rooms.delete_room(room.id)

    async def create_room(self, room_name, state):
        state = state or {}
        size = self.history_size_or_default(state.get("historyMaxSize"))
        flag = lambda key, default: state[key] if isinstance(state.get(key), bool) else default  # noqa: E731
        await self.rooms.create_room(
            room_name,
            owner=state.get("owner"),
            whitelist_only=flag("whitelistOnly", False),
            history_max_size=size,
            enable_access_lists_updates=flag("enableAccessListsUpdates", self.options.enable_access_lists_updates),
            enable_userlist_updates=flag("enableUserlistUpdates", self.options.enable_userlist_updates),
            whitelist=state.get("whitelist") or (),
            blacklist=state.get("blacklist") or (),
            adminlist=state.get("adminlist") or (),
        )
