"""The `/chat-service` namespace of an Engine.IO session and its service socket.

A command is an EVENT whose ack gets `(error, data)`; a notification is an
EVENT with positional arguments; errors are `ChatServiceError: <message>`
strings, or `{name, code, args}` objects with `useRawErrorObjects`, as the
original's socket.io transport sent them (docs/socketio.md).
"""
import json
import logging
import time
from urllib.parse import urlencode

from chatproject.common.errors import internal_error
from chatproject.common.jsontext import compact_json
from chatproject.connection import RateLimiter, Socket
from chatproject.service.jsonrpc import Call
from chatproject.service.transport import decode_query

from . import packets
from .engineio import MESSAGE, EngineError
from .packets import ACK, CONNECT, DISCONNECT, EVENT, PacketError

logger = logging.getLogger("chat")

NAMESPACE = "/chat-service"
EVENT_PREFIX = MESSAGE + packets.encode(EVENT, NAMESPACE)
ACK_PREFIX = MESSAGE + packets.encode(ACK, NAMESPACE)
DISCONNECT_PACKET = MESSAGE + packets.encode(DISCONNECT, NAMESPACE)
_last_notification = (None, None)  # (JSON-RPC text, its EVENT packet): see event_of


def event_of(notification):
    """The EVENT packet of a hub notification's JSON-RPC text. The hub hands
    every recipient the same string, so one conversion serves them all."""
    global _last_notification
    if _last_notification[0] is not notification:
        value = json.loads(notification)
        packet = EVENT_PREFIX + compact_json([value["method"], *value["params"]])
        _last_notification = (notification, packet)
    return _last_notification[1]


def handshake_scope(scope, query):
    """The handshake's scope with the query login and hooks read: the Engine.IO
    URL's, plus the namespace query (protocol 4) or `auth` entries (protocol 5)."""
    merged = decode_query(scope.get("query_string", b""))
    for name, value in query.items():
        merged[str(name)] = value if isinstance(value, str) else compact_json(value)
    return {**scope, "query_string": urlencode(merged).encode("ascii")}


class SocketIOSocket(Socket):
    """The service's socket of a `/chat-service` namespace connection."""

    transport_name = "socketio"

    def __init__(self, service, scope, session, limiter):
        super().__init__(service, scope)
        self.session = session
        self._limiter = limiter  # the Engine.IO session's (Namespaces), not a fresh bucket

    # Framing out.

    def _transport_unsent(self):
        return self.session.unsent_bytes()

    def _write(self, text):
        self.session.send(text)

    def _write_close(self, code):
        self.session.send(DISCONNECT_PACKET)
        self.session.close()

    def _discard_unsent(self):
        self.session.discard()

    async def _flush(self):
        await self.session.flushed()

    def deliver(self, text):
        return super().deliver(event_of(text))

    def _event_text(self, name, args):
        return EVENT_PREFIX + compact_json([name, *args])

    def _error_value(self, error):
        if self.options.use_raw_error_objects:
            return error.to_data()
        return f"{error.name}: {error.message}"

    def _result_reply(self, call, result):
        try:
            return f"{ACK_PREFIX}{call.id}[null,{compact_json(result)}]"
        except (TypeError, ValueError):
            logger.error("reply is not JSON: %r", result)
            return self._error_reply(call, internal_error())

    def _error_reply(self, call, error):
        return f"{ACK_PREFIX}{call.id}[{compact_json(self._error_value(error))},null]"

    def _reply_texts(self, replies, is_batch):
        return replies

    # Framing in.

    def receive_event(self, packet):
        if self.closed:
            return
        name, args = packet.data[0], packet.data[1:]
        call = Call(name, args) if packet.ack_id is None else Call(name, args, packet.ack_id)
        self._queue_entries([call], False, time.monotonic())


class Namespaces:
    """The Socket.IO layer of one Engine.IO session: only `/chat-service`
    connects; anything else is refused with the generation's error packet,
    and a packet that breaks the protocol closes the session.

    The rate limit's bucket is the session's, shared by the sockets of its
    successive namespace connections: leaving the namespace and connecting
    it again does not refill it."""

    def __init__(self, service, session):
        self.service = service
        self.session = session
        self.socket = None
        self.limiter = RateLimiter(service.options.rate_limit, service.options.rate_burst)
        session.listener = self
        if session.generation == 3:  # protocol 4: the main namespace is connected at once
            session.send(MESSAGE + packets.encode(CONNECT, "/"))

    @property
    def connected(self):
        return self.socket is not None

    def message(self, text):
        try:
            packet = packets.decode(text)
            self._handle(packet)
        except (PacketError, EngineError) as exc:
            self.session.fail(str(exc))

    def _handle(self, packet):
        if packet.type == CONNECT:
            self._connect(packet)
        elif packet.type == DISCONNECT:
            if packet.namespace == NAMESPACE and self.socket is not None:
                socket, self.socket = self.socket, None
                socket.connection_lost()
        elif packet.type == EVENT and packet.namespace == NAMESPACE and self.socket is not None:
            self.socket.receive_event(packet)
        else:
            raise PacketError(f"unexpected packet type {packet.type} for namespace {packet.namespace!r}")

    def _connect(self, packet):
        generation = self.session.generation
        if packet.namespace != NAMESPACE:
            self.session.answer(MESSAGE + packets.connect_error(packet.namespace, generation, "Invalid namespace"))
            return
        if self.socket is not None:
            raise PacketError("repeated CONNECT")
        query = packet.query if generation == 3 else (packet.data or {})
        socket = SocketIOSocket(self.service, handshake_scope(self.session.scope, query), self.session, self.limiter)
        self.socket = socket
        data = None if generation == 3 else compact_json({"sid": socket.socket_id})
        self.session.send(MESSAGE + packets.encode(CONNECT, NAMESPACE, data))
        socket.start()

    def ended(self):
        if self.socket is not None:
            self.socket.connection_lost()
