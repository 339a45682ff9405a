"""The native WebSocket transport: frames in, JSON-RPC replies and notifications out.

The consumer only moves frames. Each connection's `JsonRpcSocket` reads a
frame as it arrives (size, JSON-RPC framing, rate limit) and hands its calls
to the transport-neutral `Socket` (chatproject/connection.py), which runs the
login and then the commands one at a time in a task of its own, so that
deliveries and control messages keep flowing while a command runs. Every
outgoing frame goes through one ordered outbox whose unsent bytes are bounded
(docs/protocol.md, Limits).
"""
import logging
import time

from channels.consumer import AsyncConsumer, get_handler_name
from channels.exceptions import StopConsumer

from chatproject.common.errors import ChatServiceError, internal_error
from chatproject.common.jsontext import compact_json
from chatproject.connection import CLOSE_FRAME_TOO_LARGE, Socket, WebSocketOutbox, frame_size
from chatproject.daphne_integration import FRAMES_EXTENSION, WIRE_EXTENSION
from chatproject.service.jsonrpc import FrameError, error_reply, notification_text, read_frame, result_reply

logger = logging.getLogger("chat")


class JsonRpcSocket(Socket):
    """A `/ws/chat/` connection: JSON-RPC 2.0 frames (docs/protocol.md)."""

    __slots__ = ("_outbox",)
    transport_name = "websocket"

    def __init__(self, service, send, scope, wire, lost):
        """`wire`: daphne's connection, or None; `lost` is called when a write
        fails (ChatConsumer._write_failed)."""
        super().__init__(service, scope)
        self._outbox = WebSocketOutbox(send, wire, lost)

    # Framing out.

    def _transport_unsent(self):
        return self._outbox.unsent_bytes()

    def _write(self, text):
        self._outbox.send_text(text)

    def _write_close(self, code):
        self._outbox.close(code)

    def _discard_unsent(self):
        self._outbox.discard()

    async def _flush(self):
        await self._outbox.flush()

    def _event_text(self, name, args):
        return notification_text(name, args)

    def _error_value(self, error):
        return error.to_rpc()

    def _result_reply(self, call, result):
        return result_reply(call.id, result)

    def _error_reply(self, call, error):
        return error_reply(call.id, error)

    def _reply_texts(self, replies, is_batch):
        value = replies if is_batch else replies[0]
        try:
            return [compact_json(value)]
        except (TypeError, ValueError):
            logger.error("reply is not JSON: %r", value)
            return [compact_json(error_reply(value.get("id") if isinstance(value, dict) else None, internal_error()))]

    # Framing in.

    def receive(self, frame):
        """A text (str) or binary (bytes) frame, read as it arrives."""
        if self.closed:
            return
        if frame_size(frame, self.options.max_frame_bytes) > self.options.max_frame_bytes:
            self.close_now(CLOSE_FRAME_TOO_LARGE)
            return
        arrived = time.monotonic()
        is_batch = False
        if isinstance(frame, bytes):
            entries = [error_reply(None, ChatServiceError("invalidRequest"))]
        else:
            try:
                is_batch, entries = read_frame(frame, self.options.max_batch_length)
            except FrameError as exc:
                entries = [error_reply(None, exc.error)]
        self._queue_entries(entries, is_batch, arrived)


class ChatConsumer(AsyncConsumer):
    """`/ws/chat/`: hands frames to the connection's Socket.

    Under daphne the frames go from the connection straight to the socket
    (`Wire.receive_frames`, offered as the scope's "chat.frames" extension);
    the consumer owns the connect and the disconnect, and takes the frames
    itself when the extension is missing (another ASGI server, tests'
    WebsocketCommunicator)."""

    channel_layer_alias = None  # fan-out goes through the service's hub, not a channel per socket

    def __init__(self, service=None):
        super().__init__()
        self.service = service  # the ChatService; `chatproject.service.api` when not given
        self.socket = None
        self.receive_frames = None  # the "chat.frames" extension, under daphne

    async def __call__(self, scope, receive, send):
        """Awaits each message itself: Channels' `await_many_dispatch` keeps an
        idle receive task per connection and runs a task and a wait per message."""
        self.scope = scope
        self.base_send = send
        self.receive_frames = scope.get("extensions", {}).get(FRAMES_EXTENSION)
        try:
            while True:
                await self.dispatch(await receive())
        except StopConsumer:
            pass
        finally:
            if self.receive_frames is not None:
                self.receive_frames(None)
            # However the consumer ends (disconnect, cancelled or killed by
            # daphne), the socket's clean-up runs in a service-owned task.
            if self.socket is not None:
                self.socket.connection_lost()
                self.socket = None  # see _write_failed

    async def dispatch(self, message):
        """Channels closes stale DB connections around every message, a thread
        hop per frame; this consumer never touches the ORM itself."""
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

    async def websocket_connect(self, message):
        if self.service is None:
            from chatproject.service import api

            self.service = api
        if not await self.service.ensure_started():
            await self.send({"type": "websocket.close"})
            return
        socket = JsonRpcSocket(
            self.service, self.send, self.scope, self.scope.get("extensions", {}).get(WIRE_EXTENSION), self._write_failed
        )
        if self.receive_frames is not None:
            self.receive_frames(socket.receive)  # before the accept: no frame can come earlier
        # Accept first: the login (session, token, records) runs after the
        # handshake, so a storm of handshakes never times out waiting for it.
        await self.send({"type": "websocket.accept"})
        self.socket = socket
        socket.start()

    def _write_failed(self):
        """The socket's outbox reports a failed write here rather than to the
        socket itself: the socket holds the outbox, which holds the consumer's
        `send`, so the only cycle runs through `self.socket`, and the
        consumer's end breaks it (whatever happens before `self.socket` is
        set, the consumer's end also tells the socket). A closed connection is
        then freed at once instead of by the collector's full collections
        (with the protocol's cycle, half their time, bench/RESULTS.md)."""
        if self.socket is not None:
            self.socket.connection_lost()

    async def websocket_receive(self, message):
        if self.socket is not None:
            text = message.get("text")
            self.socket.receive(text if text is not None else message.get("bytes") or b"")

    async def websocket_disconnect(self, message):
        if self.socket is not None:
            self.socket.connection_lost(message.get("code"))
        raise StopConsumer()
