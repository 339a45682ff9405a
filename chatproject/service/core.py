"""The service object: dispatcher, presence procedures, server-side API,
recovery, start-up and shutdown (commands.md sections 5, 8, 9 and 10)."""
import asyncio
import inspect
import logging
import secrets

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

from chatproject import metrics
from messaging.store import MessagingStore
from presence.store import PresenceStore
from rooms.permissions import has_room_access
from rooms.store import RoomStore

from .clock import now_ms
from .commands import COMMANDS
from .errors import ChatServiceError, as_service_error
from .hooks import ExecInfo, HookSet
from .hub import Hub
from .jsonrpc import notification_text
from .liveness import Liveness
from .locks import room_lock
from .login import default_on_connect, resolve_session_user
from .options import load_options
from .transport import Transport
from .validation import ARG_CHECKS, check_name, is_default_message

logger = logging.getLogger("chat")

CHECKER_HOOKS = ("room_messages_checker", "direct_messages_checker")
LIFECYCLE_HOOKS = ("on_connect", "on_disconnect", "on_join", "on_leave", "on_start", "on_close")


class SyncAPI:
    """`api.sync.<name>(...)`: blocking wrappers for management commands and views."""

    def __init__(self, service):
        self._service = service

    def __getattr__(self, name):
        return async_to_sync(getattr(self._service, name))


class ChatService:
    """One chat service instance. `start()` makes it serve connections; a service
    that is never started still works on the shared state (management commands)."""

    def __init__(self, options=None, hooks=None, layer=None):
        self.options = load_options(overrides=options)
        self.hooks = HookSet(hooks if hooks is not None else self.options.hooks)
        self.hooks.validate(
            [f"{c.hook_prefix}_{when}" for c in COMMANDS.values() for when in ("before", "after")]
            + list(CHECKER_HOOKS)
            + list(LIFECYCLE_HOOKS)
        )
        self._layer = layer
        self.hub = Hub(layer) if layer is not None else None
        self.rooms = RoomStore()
        self.messaging = MessagingStore()
        self.presence = PresenceStore()
        self.transport = Transport()
        self.sync = SyncAPI(self)
        self.instance_uid = None
        self.liveness = Liveness(self)
        self._listeners = {}
        self._state = "new"  # new -> starting -> running -> closing -> closed
        self._start_lock = asyncio.Lock()
        self._tasks = set()
        self._running_commands = 0
        self._commands_done = asyncio.Event()
        self._maintenance_task = None
        self._recovery = None  # the running automatic recovery, if any
        self._reregistering = None  # the running re-registration after a declared death

    # Events (commands.md section 9.19).

    def on(self, event, listener):
        self._listeners.setdefault(event, []).append(listener)

    def emit(self, event, *args):
        log = logger.warning if event.endswith("Failure") or event == "lockTimeExceeded" else logger.info
        log("chat event %s %s", event, args)
        for listener in list(self._listeners.get(event, ())):
            try:
                result = listener(*args)
                if inspect.isawaitable(result):
                    self.spawn(self._await_listener(result))
            except Exception:
                logger.exception("listener of %s failed", event)

    @staticmethod
    async def _await_listener(awaitable):
        try:
            await awaitable
        except Exception:
            logger.exception("event listener failed")

    def spawn(self, coroutine):
        """Run a service-owned task: it outlives the consumer that caused it."""
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # Lifecycle (commands.md sections 10.5 and 10.6).

    @property
    def is_running(self):
        return self._state == "running"

    @property
    def layer_available(self):
        """Whether the channel layer answered at the last check (None before start)."""
        return None if self.hub is None else self.hub.available

    def heartbeat_age(self):
        """Seconds since this instance's last successful heartbeat write, or None."""
        if self.liveness.last_beat_ms is None:
            return None
        return max(0.0, (now_ms() - self.liveness.last_beat_ms) / 1000)

    def _get_hub(self):
        if self.hub is None:
            self.hub = Hub(self._layer or get_channel_layer())
        return self.hub

    async def start(self):
        async with self._start_lock:
            if self._state != "new":
                return
            self._state = "starting"
            self.instance_uid = secrets.token_urlsafe(16)
            try:
                await self._get_hub().start(self.instance_uid)
                on_start = self.hooks.get("on_start")
                if on_start:
                    await on_start(self)
                await self.presence.write_heartbeat(self.instance_uid, now_ms())
            except Exception as exc:
                logger.exception("chat service failed to start")
                self._state = "closed"
                await self._release_resources(keep_records=False)
                self.emit("closed", exc)
                raise
            self.liveness.start()
            self._maintenance_task = asyncio.ensure_future(self._maintenance_loop())
            self._state = "running"
        self.emit("ready")

    async def ensure_started(self):
        # A connection arriving while start() runs (daphne's start-up task) waits
        # for it, behind the start lock, instead of being refused (section 10.5).
        if self._state in ("new", "starting"):
            try:
                await self.start()
            except Exception:
                return False
        return self._state == "running"

    async def _maintenance_loop(self):
        """At the heartbeat's rate: probe the channel layer, clean up this
        instance's ghost sockets, recover dead instances. (The heartbeat itself
        is written by `liveness`, off the event loop.)"""
        rate = self.options.heartbeat_rate / 1000
        while True:
            await asyncio.sleep(rate)
            await self.hub.probe()  # notices an unreachable channel layer (section 10.3)
            try:
                await self._clean_up_ghosts()
            except Exception:
                logger.exception("ghost socket clean-up failed")
            if self.options.auto_recovery and (self._recovery is None or self._recovery.done()):
                # In a task of its own: a recovery that outlasts heartbeatTimeout
                # must not stall this loop.
                self._recovery = self.spawn(self._recover_dead_instances())

    async def _clean_up_ghosts(self):
        """Socket records of this instance without a connection here (a consumer
        that ended without its clean-up) get the disconnect procedure."""
        for socket_id, user_name in (await self.presence.instance_sockets(self.instance_uid)).items():
            if not self.transport.knows(socket_id):
                logger.warning("cleaning up ghost socket %s of %r", socket_id, user_name)
                await self.disconnect_socket(socket_id, user_name)

    async def _recover_dead_instances(self):
        try:
            deadline = now_ms() - self.options.heartbeat_timeout
            for uid in await self.presence.claim_dead_instances(self.instance_uid, deadline):
                logger.warning("instance %s declared dead (no heartbeat for %d ms); recovering it", uid, self.options.heartbeat_timeout)
                await self.instance_recovery(uid)
                await self.presence.delete_instance(uid)
                metrics.instance_recovered()
                logger.warning("recovery of instance %s done", uid)
        except Exception:
            logger.exception("automatic recovery failed")

    def declared_dead(self):
        """Other instances declared this one dead (its heartbeat stopped for too
        long) and may be deleting its records: close every connection with 4001
        at once (clients reconnect and catch up through history; nothing queued
        on them runs) and register again under a new id."""
        if self._state != "running" or not self.liveness.running:
            return
        if self._reregistering is not None and not self._reregistering.done():
            return
        old_uid, new_uid = self.instance_uid, secrets.token_urlsafe(16)
        logger.warning(
            "instance %s was declared dead by the others; closing its connections and registering again as %s",
            old_uid, new_uid,
        )
        self.instance_uid = new_uid
        for socket in list(self.transport.sockets.values()):
            socket.close_now(4001)
        self._reregistering = self.spawn(self._register_again(new_uid))

    async def _register_again(self, new_uid):
        try:
            await self.presence.write_heartbeat(new_uid, now_ms())
            self.liveness.renewed()
            await self.hub.move_instance(new_uid)
        except Exception:
            logger.exception("registering again as %s failed", new_uid)

    def stop_heartbeat(self):
        """Stop the heartbeat and the periodic work, as a dead instance would."""
        self.liveness.stop()
        if self._maintenance_task is not None:
            self._maintenance_task.cancel()
            self._maintenance_task = None

    async def close(self):
        if self._state != "running":
            return
        self._state = "closing"
        self.stop_heartbeat()
        error = None
        timed_out = False
        try:
            await asyncio.wait_for(self._close_connections(), self.options.close_timeout / 1000)
        except asyncio.TimeoutError:
            error, timed_out = ChatServiceError("timeout"), True
        except Exception as exc:
            error = exc
        on_close = self.hooks.get("on_close")
        result = error
        if on_close:
            try:
                await on_close(self, error)
                result = None
            except Exception as exc:
                result = exc
        self._state = "closed"
        await self._release_resources(keep_records=timed_out)
        self.emit("closed", result)
        if result is not None:
            raise result

    async def _close_connections(self):
        """Let running commands reply, then close every socket with 4001."""
        if self._running_commands:
            self._commands_done.clear()
            await self._commands_done.wait()
        sockets = list(self.transport.sockets.values())
        await asyncio.gather(*(socket.close(4001) for socket in sockets))
        await asyncio.gather(*(socket.disconnected() for socket in sockets))
        while self._tasks:  # disconnect clean-ups of sockets that closed earlier
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def _release_resources(self, keep_records):
        self.stop_heartbeat()
        if self.instance_uid is not None and not keep_records:
            try:
                await self.presence.delete_instance(self.instance_uid)
            except Exception:
                logger.exception("could not delete the instance record")
        if self.hub is not None:
            await self.hub.stop()

    # Connections (commands.md sections 5.2 and 5.3).

    async def login(self, socket):
        """Decide the login of a new socket; True when it was confirmed."""
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
            nconnected = await self.presence.add_socket(user_name, socket_id, self.instance_uid, now_ms())
            recorded = True
            socket.user_name = user_name
            limit = self.options.max_connections_per_user
            if limit and nconnected > limit:
                raise ChatServiceError("tooManyConnections", limit)
            if socket.closed:
                raise ChatServiceError("noSocket", "connection")
            await self.hub.add_socket(socket)
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
            return False
        await self.notify_user(user_name, "socketConnectEcho", [socket_id, nconnected], exclude=socket_id)
        await socket.confirm(user_name, {**(auth_data or {}), "id": socket_id})
        metrics.login("accepted")
        metrics.connection_opened(socket.transport_name)
        return True

    async def disconnect_socket(self, socket_id, user_name, run_hook=True):
        """The disconnect procedure of commands.md section 5.3."""
        if self.hub is not None:
            await self.hub.remove_socket(socket_id)
        rooms = await self.presence.socket_rooms(socket_id)
        outcomes = await asyncio.gather(
            *(self._disconnect_from_room(socket_id, user_name, room_id, name) for room_id, name in rooms)
        )
        done = [outcome for outcome in outcomes if outcome is not None]
        on_disconnect = self.hooks.get("on_disconnect") if run_hook else None
        try:
            nconnected = await self.presence.remove_socket_records(socket_id)
        except Exception as exc:
            self.emit("storeConsistencyFailure", exc, {"user_name": user_name, "id": socket_id, "op_type": "userSockets"})
            if on_disconnect:
                await self._call_quietly(on_disconnect, self, {"id": socket_id})
            return
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

    async def _call_quietly(self, hook, *args):
        try:
            await hook(*args)
        except Exception:
            logger.exception("hook %s failed (ignored)", getattr(hook, "__name__", hook))

    async def _on_leave(self, socket_id, room_name, njoined):
        on_leave = self.hooks.get("on_leave")
        if on_leave:
            await self._call_quietly(on_leave, self, {"id": socket_id, "room_name": room_name, "njoined": njoined})

    # Notifications (commands.md section 1.7).

    async def _publish(self, send, info):
        try:
            await send
        except Exception as exc:
            self.emit("transportConsistencyFailure", exc, {**info, "op_type": "publish"})

    async def notify_room(self, room_name, method, params, exclude=None, user_name=None):
        text = notification_text(method, params)
        await self._publish(
            self._get_hub().publish_room(room_name, text, exclude), {"user_name": user_name, "room_name": room_name}
        )

    async def notify_user(self, user_name, method, params, exclude=None):
        text = notification_text(method, params)
        await self._publish(self._get_hub().publish_user(user_name, text, exclude), {"user_name": user_name})

    # Room groups of sockets: changed by the socket's own process only.

    async def _join_group(self, socket_id, room_name):
        hub = self._get_hub()
        if hub.is_local(socket_id):
            await hub.join_room(socket_id, room_name)
        else:
            instance_uid = await self.presence.socket_instance(socket_id)
            if instance_uid is not None:
                await hub.send_control(instance_uid, socket_id, "join", room_name)

    async def _leave_group(self, socket_id, user_name, room_name):
        hub = self._get_hub()
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

    # Presence procedures (commands.md sections 4.0, 4.16, 4.17).

    async def join_room(self, user_name, socket_id, room_name, is_local_call):
        room = await self.rooms.get_room(room_name)
        async with room_lock(self, user_name, room_name):
            if not await self.presence.socket_connected(socket_id, user_name):
                raise ChatServiceError("invalidSocket", socket_id)
            if not has_room_access(room, user_name, await self.rooms.lists_of(room.id, user_name)):
                raise ChatServiceError("notAllowed")
            self._get_hub().check_available()
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
                raise ChatServiceError("internalError", "Internal server error") from None
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
        """The removal procedure of commands.md section 4.0."""
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
        present = set(await self.rooms.userlist(room.id)) & set(user_names)
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
        members = await self.rooms.userlist(room.id)
        await asyncio.gather(*(self.remove_user_from_room(room, user_name) for user_name in members))
        await self.rooms.delete_room(room.id)

    async def create_room(self, room_name, state):
        state = state or {}
        size = state.get("historyMaxSize")
        if isinstance(size, bool) or not isinstance(size, int) or size < 0:
            size = self.options.history_max_size
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

    # The dispatcher (commands.md sections 2.4 and 8.2).

    async def validate(self, command, args):
        """Steps 2-4 of the order of checks: count, types, message checker."""
        if len(args) < len(command.kinds):
            raise ChatServiceError("wrongArgumentsCount", len(command.kinds), len(args))
        checker = self.hooks.get(command.checker) if command.checker else None
        for position, kind in enumerate(command.kinds):
            value = args[position]
            if kind == "message":
                valid = type(value) is dict if checker else is_default_message(value)
            else:
                valid = ARG_CHECKS[kind](value)
            if not valid:
                raise ChatServiceError("badArgument", position, value)
        if checker:
            message = args[command.kinds.index("message")]
            try:
                await checker(message)
            except ChatServiceError:
                raise
            except Exception:
                raise ChatServiceError("badArgument", 1, message) from None

    async def run_command(self, command, info):
        """Validate, run the before hook, the command and the after hook."""
        count = len(command.kinds)
        raw = info.args
        info.args, info.rest_args = list(raw[:count]), list(raw[count:])
        if len(raw) < count:
            raise ChatServiceError("wrongArgumentsCount", count, len(raw))
        await self.validate(command, info.args)
        use_hooks = not info.bypass_hooks
        before = self.hooks.get(command.hook_prefix + "_before") if use_hooks else None
        if before:
            try:
                result = await before(info)
            except Exception as exc:
                raise self._reply_error(exc) from None
            if result is not None:
                return result
        try:
            info.results = [await command.handler(self, info, *info.args)]
        except Exception as exc:
            info.error = exc
        after = self.hooks.get(command.hook_prefix + "_after") if use_hooks else None
        if after:
            try:
                result = await after(info)
            except Exception as exc:
                raise self._reply_error(exc) from None
            if result is not None:
                return result
        if info.error is not None:
            raise self._reply_error(info.error) from None
        return info.results[0] if info.results else None

    @staticmethod
    def _reply_error(exc):
        if not isinstance(exc, ChatServiceError):
            logger.error("command failed", exc_info=exc)
        return as_service_error(exc)

    async def execute_request(self, socket, method, params):
        """A client request from a logged-in socket."""
        command = COMMANDS.get(method)
        if command is None:
            raise ChatServiceError("noCommand", method)
        if self.liveness.suspect() and not await self._confirm_alive():
            raise ChatServiceError("unavailable")  # the connection is being closed with 4001
        info = ExecInfo(server=self, user_name=socket.user_name, id=socket.socket_id, args=params, rest_args=[])
        self._running_commands += 1
        try:
            return await self.run_command(command, info)
        finally:
            self._running_commands -= 1
            if not self._running_commands:
                self._commands_done.set()

    async def _confirm_alive(self):
        """After a long pause, check that the others did not declare this instance
        dead before running a command on records they may have deleted."""
        try:
            alive = await self.liveness.confirm()
        except Exception:
            logger.exception("could not confirm that instance %s is alive", self.instance_uid)
            return True
        if not alive:
            self.declared_dead()
        return alive

    # Server-side API (commands.md section 9).

    async def exec_user_command(self, context, command_name, *args):
        user_name, socket_id, bypass_permissions, bypass_hooks = _read_context(context)
        if user_name is not None and not await self.messaging.has_user(user_name):
            raise ChatServiceError("noUser", user_name)
        command = COMMANDS.get(command_name)
        if command is None:
            raise ChatServiceError("noCommand", command_name)
        if command.needs_socket and socket_id is None:
            raise ChatServiceError("noSocket", command_name)
        if command.needs_user and user_name is None:
            raise ChatServiceError("noLogin")
        info = ExecInfo(
            server=self, user_name=user_name, id=socket_id, args=list(args), rest_args=[],
            bypass_permissions=bypass_permissions, bypass_hooks=bypass_hooks, is_local_call=True,
        )
        return await self.run_command(command, info)

    async def check_arguments(self, command_name, *args):
        command = COMMANDS.get(command_name)
        if command is None:
            raise ChatServiceError("noCommand", command_name)
        if len(args) != len(command.kinds):
            raise ChatServiceError("wrongArgumentsCount", len(command.kinds), len(args))
        await self.validate(command, list(args))

    async def add_user(self, user_name, state=None):
        check_name(user_name)
        state = state or {}
        await self.messaging.add_user(
            user_name,
            whitelist=state.get("whitelist") or (),
            blacklist=state.get("blacklist") or (),
            whitelist_only=state.get("whitelistOnly") is True,
        )

    async def delete_user(self, user_name):
        await self.messaging.delete_user(user_name)

    async def has_user(self, user_name):
        return await self.messaging.has_user(user_name)

    async def user_has_in_list(self, user_name, list_name, item):
        await self.messaging.get_user(user_name)
        if list_name not in ("whitelist", "blacklist"):
            raise ChatServiceError("noList", list_name)
        return item in await self.messaging.direct_get(user_name, list_name)

    async def has_direct_access(self, recipient, sender):
        return await self.messaging.has_direct_access(recipient, sender)

    async def disconnect_user_sockets(self, user_name):
        await self._get_hub().close_user(user_name, 1000)

    async def add_room(self, room_name, state=None):
        check_name(room_name)
        await self.create_room(room_name, state)

    async def delete_room(self, room_name):
        await self.exec_user_command(True, "roomDelete", room_name)

    async def has_room(self, room_name):
        return await self.rooms.room_exists(room_name)

    async def room_has_in_list(self, room_name, list_name, item):
        room = await self.rooms.get_room(room_name)
        if list_name not in ("whitelist", "blacklist", "adminlist", "userlist"):
            raise ChatServiceError("noList", list_name)
        return await self.rooms.has_in_list(room, list_name, item)

    async def has_room_access(self, room_name, user_name):
        try:
            room = await self.rooms.get_room(room_name)
        except ChatServiceError:
            return False
        return has_room_access(room, user_name, await self.rooms.lists_of(room.id, user_name))

    async def change_room_owner(self, room_name, owner):
        room = await self.rooms.get_room(room_name)
        await self.rooms.update_room(room.id, owner=owner)

    async def change_room_history_max_size(self, room_name, size):
        room = await self.rooms.get_room(room_name)
        if isinstance(size, bool) or not isinstance(size, int) or size < 0:
            size = self.options.history_max_size
        await self.rooms.set_history_max_size(room.id, size)

    async def change_access_lists_updates(self, room_name, mode):
        room = await self.rooms.get_room(room_name)
        await self.rooms.update_room(room.id, enable_access_lists_updates=bool(mode))

    async def change_userlist_updates(self, room_name, mode):
        room = await self.rooms.get_room(room_name)
        await self.rooms.update_room(room.id, enable_userlist_updates=bool(mode))

    # Recovery API (commands.md section 10.2).

    async def get_instance_heartbeat(self, instance_id=None):
        return await self.presence.get_heartbeat(instance_id or self.instance_uid)

    async def get_instance_sockets(self, instance_id=None):
        return await self.presence.instance_sockets(instance_id or self.instance_uid)

    async def instance_recovery(self, instance_id):
        for socket_id, user_name in (await self.presence.instance_sockets(instance_id)).items():
            try:
                await self.disconnect_socket(socket_id, user_name, run_hook=False)
            except Exception:
                logger.exception("recovery of socket %s failed", socket_id)

    async def room_state_sync(self, room_name):
        room = await self.rooms.get_room(room_name)
        for user_name in await self.rooms.userlist(room.id):
            try:
                if await self.presence.joined_count(room.id, user_name) == 0 or not await self.rooms.check_access(
                    room.id, user_name
                ):
                    await self.remove_user_from_room(room, user_name)
            except Exception:
                logger.exception("room_state_sync of %r for %r failed", room_name, user_name)

    async def user_state_sync(self, user_name):
        await self.messaging.get_user(user_name)
        if self.instance_uid is not None:
            for socket_id, instance_uid in await self.presence.user_socket_rows(user_name):
                if instance_uid == self.instance_uid and not self._get_hub().is_local(socket_id):
                    await self.presence.remove_socket_records(socket_id)
        for room_id, room_name in await self.presence.rooms_of_user_sockets(user_name):
            try:
                if not await self.presence.in_userlist(room_id, user_name):
                    room = await self.rooms.get_room_by_id(room_id)
                    if room is not None:
                        await self.remove_user_from_room(room, user_name)
            except Exception:
                logger.exception("user_state_sync of %r in %r failed", user_name, room_name)


def _read_context(context):
    """The three context forms of execUserCommand (commands.md section 9.2)."""
    if isinstance(context, bool):
        return None, None, context, False
    if isinstance(context, str):
        return context, None, False, False
    if isinstance(context, dict):

        def pick(snake, camel):
            return context.get(snake, context.get(camel))

        return (
            pick("user_name", "userName"),
            context.get("id"),
            bool(pick("bypass_permissions", "bypassPermissions")),
            bool(pick("bypass_hooks", "bypassHooks")),
        )
    if context is None:
        return None, None, False, False
    raise ChatServiceError("badArgument", 0, context)

