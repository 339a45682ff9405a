"""The WebSocket transport: frames in, JSON-RPC replies and notifications out.

The consumer only moves frames. Each connection's `Socket` reads a frame as
it arrives (size, JSON-RPC framing, rate limit), queues what is to be run,
and runs its login and then its commands one at a time in a task of its own,
so that deliveries and control messages keep flowing while a command runs.
Every outgoing frame goes through one ordered outbox whose unsent bytes are
bounded (docs/protocol.md, Limits).
"""
import asyncio
import logging
import math
import secrets
import time
from collections import deque

from channels.consumer import AsyncConsumer, get_handler_name
from channels.exceptions import StopConsumer
from channels.security.websocket import OriginValidator
from django.conf import settings

from chatproject import metrics
from chatproject.common.errors import ChatServiceError, internal_error
from chatproject.common.jsontext import compact_json
from chatproject.daphne_integration import WIRE_EXTENSION
from chatproject.service.commands import COMMANDS
from chatproject.service.jsonrpc import FrameError, error_reply, notification_text, read_frame, result_reply

logger = logging.getLogger("chat")

CLOSE_SLOW_READER = 4008
CLOSE_FRAME_TOO_LARGE = 4009
CLOSE_LOGIN_REJECTED = 4403


class RateLimiter:
    """A token bucket: `burst` tokens, refilled at `rate` per second (0: no limit)."""

    def __init__(self, rate, burst):
        self.rate = rate
        self.burst = burst
        self.tokens = float(burst)
        self.updated = time.monotonic()

    def take(self):
        if not self.rate:
            return True
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False

    def retry_after_ms(self):
        """Milliseconds until the next token."""
        return max(1, math.ceil((1 - self.tokens) * 1000 / self.rate))


def frame_size(frame, limit):
    """Bytes of a frame's payload, counted exactly only when it may pass `limit`."""
    if isinstance(frame, bytes) or len(frame) * 4 <= limit:
        return len(frame)
    return len(frame.encode("utf-8", "surrogatepass"))


def command_label(method):
    """A metrics label: the command's name, or "unknown" (bounded cardinality)."""
    return method if method in COMMANDS else "unknown"


class Socket:
    """One connection as the service sees it.

    `closed` becomes true once the service decided to close the connection or
    the connection is gone: from then on nothing it sent is run and nothing
    more is written but the close frame."""

    transport_name = "websocket"

    def __init__(self, service, send, scope, wire=None):
        self.service = service
        self.options = service.options
        self.socket_id = secrets.token_urlsafe(16)
        self.scope = scope
        self.user_name = None
        self.closed = False
        self.close_code = None
        self.logged_in = False
        self._send = send
        self._wire = wire
        self._confirmed = False
        self._held = []
        self._outbox = deque()
        self._outbox_chars = 0
        self._writer = None
        self._work = deque()  # reply texts, and frames of calls: (is_batch, entries, arrival time)
        self._work_chars = 0
        self._queued_calls = 0
        self._executing = False  # a frame's calls are running
        self._work_ready = asyncio.Event()
        self._limiter = RateLimiter(self.options.rate_limit, self.options.rate_burst)
        self._worker = None
        self._clean_up_task = None

    def start(self):
        self.service.transport.register(self)
        self._worker = self.service.spawn(self._run())

    # Outgoing frames.

    def unsent_bytes(self):
        """Replies and notifications written but not yet taken by the client."""
        wire = self._wire.unsent_bytes() if self._wire is not None else 0
        return self._outbox_chars + self._work_chars + wire

    def _send_text(self, text):
        if self.closed:
            return
        if self.unsent_bytes() > self.options.max_outgoing_bytes:
            self.close_now(CLOSE_SLOW_READER)
            return
        if self._wire is not None and self._writer is None:  # nothing queued before it
            try:
                written = self._wire.send_text(text)
            except Exception:
                logger.warning("could not write to socket %s; dropping the connection", self.socket_id, exc_info=True)
                written = False
            if not written:
                self.connection_lost()
            return
        self._outbox_chars += len(text)
        self._enqueue({"type": "websocket.send", "text": text})

    def _enqueue(self, message):
        self._outbox.append(message)
        if self._writer is None:
            self._writer = asyncio.ensure_future(self._drain())

    async def _drain(self):
        try:
            while self._outbox:
                message = self._outbox.popleft()
                if message["type"] == "websocket.send":
                    self._outbox_chars -= len(message["text"])
                try:
                    await self._send(message)
                except Exception:
                    logger.warning("could not write to socket %s; dropping the connection", self.socket_id, exc_info=True)
                    self._outbox.clear()
                    self._outbox_chars = 0
                    self.connection_lost()
                    return
        finally:
            self._writer = None

    async def _flush(self):
        if self._writer is not None:
            await asyncio.shield(self._writer)

    def deliver(self, text):
        """A notification from the hub; held back until loginConfirmed is out."""
        if self._confirmed:
            self._send_text(text)
            metrics.delivered()
        elif not self.closed:
            self._held.append(text)

    def send_json(self, value):
        try:
            text = compact_json(value)
        except (TypeError, ValueError):
            logger.error("reply is not JSON: %r", value)
            text = compact_json(error_reply(value.get("id") if isinstance(value, dict) else None, internal_error()))
        self._send_text(text)

    async def confirm(self, user_name, auth_data):
        self._send_text(notification_text("loginConfirmed", [user_name, auth_data]))
        self._confirmed = True
        held, self._held = self._held, []
        for text in held:
            self._send_text(text)

    async def reject(self, error):
        self._send_text(notification_text("loginRejected", [error.to_rpc()]))
        await self.close(CLOSE_LOGIN_REJECTED)

    async def close(self, code):
        """Close with `code`; nothing the client sends afterwards is run."""
        self.close_now(code)
        await self._flush()

    def close_now(self, code):
        """Decide to close: from now on nothing is run or written but the close frame."""
        if self.closed:
            return
        self._stop_work()
        self.close_code = code
        if code == CLOSE_SLOW_READER:  # free what it did not read
            self._outbox.clear()
            self._outbox_chars = 0
        self._enqueue({"type": "websocket.close", "code": code})
        self._begin_clean_up()

    def _stop_work(self):
        self.closed = True
        self._held.clear()
        self._work.clear()
        self._work_chars = 0
        self._work_ready.set()

    # Incoming frames.

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
        entries = self._admit(entries)
        if not entries:
            return
        if all(isinstance(entry, dict) for entry in entries):
            text = compact_json(entries if is_batch else entries[0])
            if self._confirmed and not self._work and not self._executing:
                self._send_text(text)  # nothing queued or running before it: the order holds
                return
            self._work.append(text)
            self._work_chars += len(text)
        else:
            self._work.append((is_batch, entries, arrived))
        self._work_ready.set()

    def _admit(self, entries):
        """Take a rate-limit token per call; refused calls become errors (or vanish
        when they have no id). Queued calls never exceed `rateBurst`."""
        admitted = []
        limited = self.options.rate_limit > 0
        for entry in entries:
            if isinstance(entry, dict):
                admitted.append(entry)
            elif (not limited or self._queued_calls < self.options.rate_burst) and self._limiter.take():
                self._queued_calls += 1
                admitted.append(entry)
            else:
                metrics.rate_limited()
                metrics.command(command_label(entry.method), "rateLimited", 0.0)
                if not entry.is_notification:
                    retry = self._limiter.retry_after_ms() if self._limiter.tokens < 1 else math.ceil(1000 / self.options.rate_limit)
                    admitted.append(error_reply(entry.id, ChatServiceError("rateLimited", retry)))
        return admitted

    async def _run(self):
        self.user_name = await self.service.login(self)
        self.logged_in = self.user_name is not None
        while self.logged_in and not self.closed and self.service.is_running:
            if not self._work:
                self._work_ready.clear()
                await self._work_ready.wait()
                continue
            item = self._work.popleft()
            if isinstance(item, str):
                self._work_chars -= len(item)
                self._send_text(item)
            else:
                self._executing = True
                try:
                    await self._execute(*item)
                finally:
                    self._executing = False

    async def _execute(self, is_batch, entries, arrived):
        replies = []
        for entry in entries:
            if isinstance(entry, dict):
                replies.append(entry)
                continue
            self._queued_calls -= 1
            if self.closed:
                return
            outcome = "ok"
            try:
                reply = result_reply(entry.id, await self.service.execute_request(self, entry.method, entry.params))
            except ChatServiceError as exc:
                reply = error_reply(entry.id, exc)
                outcome = exc.code
            metrics.command(command_label(entry.method), outcome, time.monotonic() - arrived)
            if not entry.is_notification:
                replies.append(reply)
        if replies:
            self.send_json(replies if is_batch else replies[0])

    # Closing.

    def connection_lost(self, code=None):
        """The connection is gone: closed by the client (with `code`) or the
        network, or its consumer was cancelled or killed by daphne. Cleans up
        exactly once."""
        if not self.closed:
            self.close_code = code
            self._stop_work()
        return self._begin_clean_up()

    def _begin_clean_up(self):
        if self._clean_up_task is None:
            self._clean_up_task = self.service.spawn(self._clean_up())
        return self._clean_up_task

    def disconnected(self):
        """Awaitable end of the disconnect clean-up (a service-owned task)."""
        return asyncio.shield(self._begin_clean_up())

    async def _clean_up(self):
        if self._worker is not None:
            await asyncio.wait([self._worker])  # the login and the running command end first
            if not self._worker.cancelled() and self._worker.exception() is not None:
                logger.error("socket worker failed", exc_info=self._worker.exception())
        self.service.transport.unregister(self.socket_id)
        try:
            if self.logged_in:
                metrics.connection_closed(self.transport_name, self.close_code)
                await self.service.disconnect_socket(self.socket_id, self.user_name)
        finally:
            self.service.transport.forget(self.socket_id)


class ChatConsumer(AsyncConsumer):
    """`/ws/chat/`: hands frames to the connection's Socket."""

    channel_layer_alias = None  # fan-out goes through the service's hub, not a channel per socket

    def __init__(self, service=None):
        super().__init__()
        self.service = service  # the ChatService; `chatproject.service.api` when not given
        self.socket = None

    async def __call__(self, scope, receive, send):
        try:
            await super().__call__(scope, receive, send)
        finally:
            # However the consumer ends (disconnect, cancelled or killed by
            # daphne), the socket's clean-up runs in a service-owned task.
            if self.socket is not None:
                self.socket.connection_lost()

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
        # Accept first: the login (session, token, records) runs after the
        # handshake, so a storm of handshakes never times out waiting for it.
        await self.send({"type": "websocket.accept"})
        wire = self.scope.get("extensions", {}).get(WIRE_EXTENSION)
        self.socket = Socket(self.service, self.send, self.scope, wire)
        self.socket.start()

    async def websocket_receive(self, message):
        if self.socket is not None:
            text = message.get("text")
            self.socket.receive(text if text is not None else message.get("bytes") or b"")

    async def websocket_disconnect(self, message):
        if self.socket is not None:
            self.socket.connection_lost(message.get("code"))
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
