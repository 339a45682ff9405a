"""The WebSocket transport: frames in, JSON-RPC replies and notifications out.

The consumer only moves frames. Each connection's `Socket` runs its login
and then its commands one at a time from a queue, in a task of its own, so
that deliveries and control messages keep flowing while a command runs
(design.md, Layers). Every outgoing frame goes through one ordered outbox.
"""
import asyncio
import logging
import secrets
from collections import deque

from channels.consumer import AsyncConsumer, get_handler_name
from channels.exceptions import StopConsumer
from channels.security.websocket import OriginValidator
from django.conf import settings

from chatproject.service.errors import ChatServiceError, compact_json, internal_error
from chatproject.service.jsonrpc import FrameError, error_reply, notification_text, read_frame, result_reply

logger = logging.getLogger("chat")
BINARY_FRAME = object()
CLOSE_FRAME_TOO_LARGE = 4009
CLOSE_LOGIN_REJECTED = 4403


class Socket:
    """One connection as the service sees it."""

    def __init__(self, service, send, scope):
        self.service = service
        self.socket_id = secrets.token_urlsafe(16)
        self.scope = scope
        self.user_name = None
        self.closed = False
        self.logged_in = False
        self._send = send
        self._confirmed = False
        self._held = []
        self._outbox = deque()
        self._writer = None
        self._close_sent = False
        self._inbox = asyncio.Queue()
        self._worker = None
        self._disconnect_task = None

    def start(self):
        self.service.transport.register(self)
        self._worker = self.service.spawn(self._run())

    # Outgoing frames.

    def _write(self, message):
        if self._close_sent:
            return
        if message["type"] == "websocket.close":
            self._close_sent = True
        self._outbox.append(message)
        if self._writer is None or self._writer.done():
            self._writer = asyncio.ensure_future(self._drain())

    async def _drain(self):
        while self._outbox:
            message = self._outbox.popleft()
            try:
                await self._send(message)
            except Exception:
                logger.debug("send to a closed socket %s dropped", self.socket_id)

    async def _flush(self):
        if self._writer is not None:
            await asyncio.shield(self._writer)

    def deliver(self, text):
        """A notification from the hub; held back until loginConfirmed is out."""
        if self._confirmed:
            self._write({"type": "websocket.send", "text": text})
        elif not self.closed:
            self._held.append(text)

    def send_json(self, value):
        try:
            text = compact_json(value)
        except (TypeError, ValueError):
            logger.error("reply is not JSON: %r", value)
            text = compact_json(error_reply(value.get("id") if isinstance(value, dict) else None, internal_error()))
        self._write({"type": "websocket.send", "text": text})

    async def confirm(self, user_name, auth_data):
        self._write({"type": "websocket.send", "text": notification_text("loginConfirmed", [user_name, auth_data])})
        self._confirmed = True
        held, self._held = self._held, []
        for text in held:
            self._write({"type": "websocket.send", "text": text})

    async def reject(self, error):
        self._write({"type": "websocket.send", "text": notification_text("loginRejected", [error.to_rpc()])})
        await self.close(CLOSE_LOGIN_REJECTED)

    async def close(self, code):
        self._write({"type": "websocket.close", "code": code})
        await self._flush()

    # Incoming frames.

    def receive(self, item):
        if not self.closed:
            self._inbox.put_nowait(item)

    async def _run(self):
        self.logged_in = await self.service.login(self)
        while self.logged_in:
            item = await self._inbox.get()
            if item is None or not self.service.is_running:
                return
            await self._handle(item)

    async def _handle(self, item):
        if item is BINARY_FRAME:
            self.send_json(error_reply(None, ChatServiceError("invalidRequest")))
            return
        try:
            is_batch, entries = read_frame(item)
        except FrameError as exc:
            self.send_json(error_reply(None, exc.error))
            return
        replies = []
        for entry in entries:
            if isinstance(entry, dict):
                replies.append(entry)
                continue
            try:
                reply = result_reply(entry.id, await self.service.execute_request(self, entry.method, entry.params))
            except ChatServiceError as exc:
                reply = error_reply(entry.id, exc)
            if not entry.is_notification:
                replies.append(reply)
        if replies:
            self.send_json(replies if is_batch else replies[0])

    # Closing.

    def disconnected(self):
        """Run the disconnect clean-up once, in a service-owned task."""
        if self._disconnect_task is None:
            self.closed = True
            self._inbox.put_nowait(None)
            self._disconnect_task = self.service.spawn(self._clean_up())
        return asyncio.shield(self._disconnect_task)

    async def _clean_up(self):
        try:
            await asyncio.shield(self._worker)
        except Exception:
            logger.exception("socket worker failed")
        self.service.transport.unregister(self.socket_id)
        if self.logged_in:
            await self.service.disconnect_socket(self.socket_id, self.user_name)


class ChatConsumer(AsyncConsumer):
    """`/ws/chat/`: hands frames to the connection's Socket."""

    channel_layer_alias = None  # fan-out goes through the service's hub, not a channel per socket
    service = None  # the ChatService; `chatproject.service.api` when not given

    def __init__(self, service=None):
        super().__init__()
        self.service = service

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
        await self.send({"type": "websocket.accept"})
        self.max_frame_bytes = self.service.options.max_frame_bytes
        self.socket = Socket(self.service, self.send, self.scope)
        self.socket.start()

    async def websocket_receive(self, message):
        socket = getattr(self, "socket", None)
        if socket is None:
            return
        text = message.get("text")
        payload = text if text is not None else message.get("bytes") or b""
        size = len(payload) if text is None or len(text) * 4 <= self.max_frame_bytes else len(text.encode("utf-8", "surrogatepass"))
        if size > self.max_frame_bytes:
            await socket.close(CLOSE_FRAME_TOO_LARGE)
            return
        socket.receive(BINARY_FRAME if text is None else text)

    async def websocket_disconnect(self, message):
        socket = getattr(self, "socket", None)
        if socket is not None:
            socket.disconnected()
        raise StopConsumer()


class MissingOriginAllowed(OriginValidator):
    """Admit non-browser clients (no Origin); a present Origin must match the hosts."""

    def valid_origin(self, parsed_origin):
        return parsed_origin is None or super().valid_origin(parsed_origin)


def origin_checked(application):
    allowed = list(settings.ALLOWED_HOSTS)
    if settings.DEBUG and not allowed:
        allowed = ["localhost", "127.0.0.1", "[::1]"]
    return MissingOriginAllowed(application, allowed)

