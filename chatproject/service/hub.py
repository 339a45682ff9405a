"""Per-process fan-out (docs/architecture.md, Fan-out: the hub).

The hub knows this process's sockets by room and by user. The channel layer
carries one message per event per process: each process subscribes its one
hub channel to a group per room and per user it has local sockets for, and
to a group of its own instance for control messages. A socket's room
membership in the hub changes only in its own process.
"""
import asyncio
import functools
import hashlib
import logging
from collections import defaultdict

from chatproject import metrics
from chatproject.common.errors import ChatServiceError

logger = logging.getLogger("chat")


@functools.lru_cache(maxsize=4096)
def group_name(kind, name):
    """Group names allow few characters and under 100 of them: hash the name
    (once per busy room or user: every room message needs its group's name)."""
    return f"chat.{kind}.{hashlib.sha256(name.encode('utf-8', 'surrogatepass')).hexdigest()}"


class Hub:
    def __init__(self, layer):
        self.layer = layer
        self.channel = None
        self.sockets = {}  # socket id -> socket
        self.room_members = defaultdict(set)  # room name -> local socket ids
        self.user_members = defaultdict(set)  # user name -> local socket ids
        self.socket_users = {}  # local socket id -> user name
        self.socket_rooms = defaultdict(set)  # local socket id -> room names
        self._subscriptions = {}  # group -> True once subscribed, or the future of its first asker's group_add
        self._receiver = None
        self.available = True

    # Lifecycle.

    async def start(self, instance_uid):
        self.channel = await self.layer.new_channel("chat.hub.")
        self.instance_group = group_name("instance", instance_uid)
        await self.layer.group_add(self.instance_group, self.channel)
        self._receiver = asyncio.create_task(self._receive_loop())

    async def move_instance(self, instance_uid):
        """Take control messages under a new instance id (after a declared death)."""
        old_group = self.instance_group
        self.instance_group = group_name("instance", instance_uid)
        await self.layer.group_add(self.instance_group, self.channel)
        try:
            await self.layer.group_discard(old_group, self.channel)
        except Exception:
            logger.warning("could not leave the group of the old instance id")

    async def stop(self):
        if self._receiver:
            self._receiver.cancel()
            try:
                await self._receiver
            except (asyncio.CancelledError, Exception):
                pass
            self._receiver = None
        groups = list(self._subscriptions) + ([self.instance_group] if self.channel else [])
        for group in groups:
            try:
                await self.layer.group_discard(group, self.channel)
            except Exception:
                pass
        self._subscriptions.clear()

    async def _receive_loop(self):
        delay = 0.1
        while True:
            try:
                message = await self.layer.receive(self.channel)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self._set_available(False, exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5)
                continue
            self._set_available(True)
            delay = 0.1
            try:
                await self.handle(message)
            except Exception:
                logger.exception("hub failed to handle %r", message.get("type"))

    def _set_available(self, available, reason=None):
        """Log the layer's state changes, once each: an outage of an hour is two lines."""
        if available and not self.available:
            logger.warning("channel layer reachable again")
        elif not available and self.available:
            logger.error("channel layer unreachable: %s", reason)
        self.available = available

    def check_available(self):
        """A command that is about to change state refuses while the layer is down."""
        if not self.available:
            raise ChatServiceError("unavailable")

    async def probe(self):
        """Check the layer at each heartbeat (a pending receive may never fail on
        an outage): a failed send marks the layer unavailable; the probe arriving
        through the receive loop marks it available again."""
        try:
            await self.layer.send(self.channel, {"type": "hub.probe"})
        except Exception as exc:
            self._set_available(False, exc)

    # Layer operations, named as in docs/testing.md, Fault injection.

    async def group_add(self, group):
        await self.layer.group_add(group, self.channel)

    async def group_discard(self, group):
        await self.layer.group_discard(group, self.channel)

    async def group_send(self, group, message):
        await self.layer.group_send(group, message)

    async def _subscribe(self, group):
        """Subscribe the hub's channel to `group` once. The first asker runs the
        layer's group_add itself (no task per login: with Redis it is one write);
        askers meanwhile share its failure, or ask again if it was cancelled."""
        while (pending := self._subscriptions.get(group)) is not None:
            if pending is True:
                return
            failure = await asyncio.shield(pending)
            if failure is not None:
                raise failure
        pending = self._subscriptions[group] = asyncio.get_running_loop().create_future()
        try:
            await self.group_add(group)
        except BaseException as exc:
            if self._subscriptions.get(group) is pending:
                del self._subscriptions[group]
            pending.set_result(None if isinstance(exc, asyncio.CancelledError) else exc)
            raise
        if self._subscriptions.get(group) is pending:  # (else unsubscribed meanwhile)
            self._subscriptions[group] = True
        pending.set_result(None)

    async def _unsubscribe(self, group):
        if self._subscriptions.pop(group, None) is not None:
            await self.group_discard(group)

    # Local membership.

    async def add_socket(self, socket, user_name):
        """Register a logged-in socket under its user (login step 8)."""
        self.sockets[socket.socket_id] = socket
        self.socket_users[socket.socket_id] = user_name
        self.user_members[user_name].add(socket.socket_id)
        try:
            await self._subscribe(group_name("user", user_name))
        except Exception:
            self.remove_socket_now(socket.socket_id)
            raise

    def remove_socket_now(self, socket_id):
        """Forget a socket at once so that nothing more is delivered to it;
        returns the groups nothing of this process needs any more."""
        if self.sockets.pop(socket_id, None) is None:
            return []
        emptied = []
        user_name = self.socket_users.pop(socket_id)
        members = self.user_members.get(user_name)
        if members is not None:
            members.discard(socket_id)
            if not members:
                del self.user_members[user_name]
                emptied.append(group_name("user", user_name))
        for room_name in self.socket_rooms.pop(socket_id, ()):
            if self._leave_local(room_name, socket_id):
                emptied.append(group_name("room", room_name))
        return emptied

    async def remove_socket(self, socket_id):
        for group in self.remove_socket_now(socket_id):
            try:
                await self._unsubscribe(group)
            except Exception:
                pass

    async def join_room(self, socket_id, room_name):
        """Add a local socket to a room (the socket's own process only)."""
        if socket_id not in self.sockets:
            return
        self.room_members[room_name].add(socket_id)
        self.socket_rooms[socket_id].add(room_name)
        try:
            await self._subscribe(group_name("room", room_name))
        except Exception:
            self._leave_local(room_name, socket_id)
            raise

    def _leave_local(self, room_name, socket_id):
        """Returns True when the process has no socket left in the room."""
        rooms = self.socket_rooms.get(socket_id)
        if rooms is not None:
            rooms.discard(room_name)
            if not rooms:
                del self.socket_rooms[socket_id]
        members = self.room_members.get(room_name)
        if members is None:
            return False
        members.discard(socket_id)
        if not members:
            del self.room_members[room_name]
            return True
        return False

    async def leave_room(self, socket_id, room_name):
        if self._leave_local(room_name, socket_id):
            await self._unsubscribe(group_name("room", room_name))

    def is_local(self, socket_id):
        return socket_id in self.sockets

    # Delivery.

    async def publish_room(self, room_name, text, exclude=None):
        """Other processes get it through the layer; this process's sockets at once,
        so its recipients are exactly the members at the moment of sending."""
        await self.group_send(group_name("room", room_name), {"type": "hub.room", "room": room_name, "text": text, "exclude": exclude, "origin": self.channel})
        self._deliver(self.room_members.get(room_name, ()), text, exclude)

    async def publish_user(self, user_name, text, exclude=None):
        await self.group_send(group_name("user", user_name), {"type": "hub.user", "user": user_name, "text": text, "exclude": exclude, "origin": self.channel})
        self._deliver(self.user_members.get(user_name, ()), text, exclude)

    async def send_control(self, instance_uid, socket_id, action, room_name=None):
        await self.group_send(
            group_name("instance", instance_uid),
            {"type": "hub.control", "socket": socket_id, "action": action, "room": room_name},
        )

    async def close_user(self, user_name, code):
        await self.group_send(group_name("user", user_name), {"type": "hub.close_user", "user": user_name, "code": code})

    async def handle(self, message):
        """One message from the layer; one that this version does not know is an
        error (the receive loop logs it), never a partial delivery."""
        kind = message.get("type")
        if kind == "hub.room":
            if message.get("origin") != self.channel:  # our own were delivered when sent
                self._deliver(self.room_members.get(message["room"], ()), *delivery_of(message))
        elif kind == "hub.user":
            if message.get("origin") != self.channel:
                self._deliver(self.user_members.get(message["user"], ()), *delivery_of(message))
        elif kind == "hub.probe":
            pass  # `probe`: that it arrived was the point
        elif kind == "hub.control":
            socket_id, room_name = message["socket"], message.get("room")
            if message["action"] == "join":
                await self.join_room(socket_id, room_name)
            elif message["action"] == "leave":
                await self.leave_room(socket_id, room_name)
        elif kind == "hub.close_user":
            for socket_id in list(self.user_members.get(message["user"], ())):
                socket = self.sockets.get(socket_id)
                if socket is not None:
                    await socket.close(message["code"])
        else:
            raise ValueError(f"unknown hub message type {kind!r}")

    def _deliver(self, socket_ids, text, exclude):
        """Hand `text` to each socket; the written ones are counted once per
        event, not with a metrics call per recipient."""
        written = 0
        for socket_id in list(socket_ids):
            if socket_id != exclude:
                socket = self.sockets.get(socket_id)
                if socket is not None and socket.deliver(text):
                    written += 1
        if written:
            metrics.delivered(written)


def delivery_of(message):
    """The text and the excluded socket of a room or user message from the layer."""
    text, exclude = message["text"], message.get("exclude")
    if type(text) is not str or not (exclude is None or type(exclude) is str):
        raise ValueError("a hub delivery needs a text and an optional socket id, both strings")
    return text, exclude
