"""A client connection as the service sees it, whatever its transport.

`Socket` is the transport-neutral part of a `ServiceSocket`
(chatproject/service/sockets.py): the rate limit, the work queue whose replies
keep arrival order, the login that runs before any command, the notifications
held until loginConfirmed is out, the bound on unsent bytes (close as a slow
reader), and a clean-up that runs exactly once however the connection ends
(docs/protocol.md, Limits). The native JSON-RPC endpoint
(chatproject/consumers.py) and the socket.io endpoint (chatproject/socketio/)
subclass it with their framing. `WebSocketOutbox` is the ordered writer both
use on a WebSocket; `origin_rule` the Origin rule both apply.
"""
import asyncio
import logging
import math
import secrets
import time
from collections import deque
from urllib.parse import urlparse

from channels.security.websocket import OriginValidator
from django.conf import settings

from chatproject import metrics
from chatproject.common.errors import ChatServiceError
from chatproject.service.commands import COMMANDS
from chatproject.service.jsonrpc import Call

logger = logging.getLogger("chat")

CLOSE_SHUTDOWN = 4001
CLOSE_SLOW_READER = 4008
CLOSE_FRAME_TOO_LARGE = 4009
CLOSE_LOGIN_REJECTED = 4403


class RateLimiter:
    """A token bucket: `burst` tokens, refilled at `rate` per second (0: no limit)."""

    __slots__ = ("rate", "burst", "tokens", "updated")

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


class WebSocketOutbox:
    """The ordered writer of one WebSocket: text written straight to daphne's
    connection (`wire`) while nothing waits before it, else queued as ASGI
    messages. `lost` is called once when a write fails."""

    __slots__ = ("_send", "_wire", "_lost", "_queue", "_queued_chars", "_writer")

    def __init__(self, send, wire, lost):
        self._send = send
        self._wire = wire
        self._lost = lost
        self._queue = None  # a deque once something waits: most connections never queue
        self._queued_chars = 0
        self._writer = None

    def unsent_bytes(self):
        wire = self._wire.unsent_bytes() if self._wire is not None else 0
        return self._queued_chars + wire

    def send_text(self, text):
        if self._wire is not None and self._writer is None:  # nothing queued before it
            try:
                written = self._wire.send_text(text)
            except Exception:
                logger.warning("could not write to a WebSocket; dropping the connection", exc_info=True)
                written = False
            if not written:
                self._lost()
            return
        self._queued_chars += len(text)
        self._enqueue({"type": "websocket.send", "text": text})

    def close(self, code):
        self._enqueue({"type": "websocket.close", "code": code})

    def discard(self):
        """Drop what is queued and unsent (a slow reader's backlog)."""
        self._queue = None
        self._queued_chars = 0

    def _enqueue(self, message):
        if self._queue is None:
            self._queue = deque()
        self._queue.append(message)
        if self._writer is None:
            self._writer = asyncio.ensure_future(self._drain())

    async def _drain(self):
        try:
            while self._queue:
                message = self._queue.popleft()
                if message["type"] == "websocket.send":
                    self._queued_chars -= len(message["text"])
                try:
                    await self._send(message)
                except Exception:
                    logger.warning("could not write to a WebSocket; dropping the connection", exc_info=True)
                    self.discard()
                    self._lost()
                    return
        finally:
            self._writer = None

    async def flush(self):
        if self._writer is not None:
            await asyncio.shield(self._writer)


class Socket:
    """One connection as the service sees it.

    `closed` becomes true once the service decided to close the connection or
    the connection is gone: from then on nothing it sent is run and nothing
    more is written but the close.

    A subclass frames what goes out and comes in: `_write`, `_transport_unsent`,
    `_write_close`, `_discard_unsent`, `_flush` move text; `_event_text`,
    `_error_value`, `_result_reply`, `_error_reply`, `_reply_texts` render it.
    A frame's entries are `Call`s to run or replies ready to send.

    One lives per connection, so its attributes are slots (less memory per
    idle connection); a subclass that adds none may still leave out
    `__slots__` and get a dictionary."""

    __slots__ = ("service", "options", "socket_id", "scope", "user_name", "closed", "close_code", "logged_in",
                 "_confirmed", "_held", "_work", "_work_chars", "_queued_calls", "_executing", "_waiter",
                 "_limiter", "_worker", "_clean_up_task")
    transport_name = None

    def __init__(self, service, scope):
        self.service = service
        self.options = service.options
        self.socket_id = secrets.token_urlsafe(16)
        self.scope = scope
        self.user_name = None
        self.closed = False
        self.close_code = None
        self.logged_in = False
        self._confirmed = False
        self._held = []
        # Reply texts, and frames of calls: (is_batch, entries, arrival time);
        # a deque only while there is work, and the idle worker awaits a bare
        # future: an idle connection holds no deque (about 1.3 kB less each).
        self._work = None
        self._work_chars = 0
        self._queued_calls = 0
        self._executing = False  # a frame's calls are running
        self._waiter = None  # the future the idle worker awaits
        self._limiter = RateLimiter(self.options.rate_limit, self.options.rate_burst)
        self._worker = None
        self._clean_up_task = None

    def start(self):
        self.service.transport.register(self)
        self._worker = self.service.spawn(self._run())

    # Outgoing text.

    def unsent_bytes(self):
        """Replies and notifications written but not yet taken by the client."""
        return self._transport_unsent() + self._work_chars

    def _send_text(self, text):
        """Write `text` unless closed or too far behind; True when written."""
        if self.closed:
            return False
        if self.unsent_bytes() > self.options.max_outgoing_bytes:
            self.close_now(CLOSE_SLOW_READER)
            return False
        self._write(text)
        return True

    def deliver(self, text):
        """A notification from the hub; held back until loginConfirmed is out.
        True when it was written (the hub counts those once per event)."""
        if self._confirmed:
            self._send_text(text)
            return True
        if not self.closed:
            self._held.append(text)
        return False

    async def confirm(self, user_name, auth_data):
        self._send_text(self._event_text("loginConfirmed", [user_name, auth_data]))
        self._confirmed = True
        held, self._held = self._held, []
        if held:  # the hub counted none of these (deliver returned False)
            written = sum(self._send_text(text) for text in held)
            if written:
                metrics.delivered(written)

    async def reject(self, error):
        self._send_text(self._event_text("loginRejected", [self._error_value(error)]))
        await self.close(CLOSE_LOGIN_REJECTED)

    async def close(self, code):
        """Close with `code`; nothing the client sends afterwards is run."""
        self.close_now(code)
        await self._flush()

    def close_now(self, code):
        """Decide to close: from now on nothing is run or written but the close."""
        if self.closed:
            return
        self._stop_work()
        self.close_code = code
        if code == CLOSE_SLOW_READER:  # free what it did not read
            self._discard_unsent()
        self._write_close(code)
        self._begin_clean_up()

    def _stop_work(self):
        self.closed = True
        self._held.clear()
        self._work = None
        self._work_chars = 0
        self._wake_worker()

    def _wake_worker(self):
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    # Incoming calls.

    def _queue_entries(self, entries, is_batch, arrived):
        """Queue a frame's entries (Calls, or ready replies) after the work before it."""
        entries = self._admit(entries)
        if not entries:
            return
        if self._work is None:
            self._work = deque()
        if not any(isinstance(entry, Call) for entry in entries):
            for text in self._reply_texts(entries, is_batch):
                if self._confirmed and not self._work and not self._executing:
                    self._send_text(text)  # nothing queued or running before it: the order holds
                else:
                    self._work.append(text)
                    self._work_chars += len(text)
        else:
            self._work.append((is_batch, entries, arrived))
        self._wake_worker()

    def _admit(self, entries):
        """Take a rate-limit token per call; refused calls become errors (or vanish
        when they have no id). At most `rateBurst` calls wait behind the one
        the worker runs, or takes up next when it runs none: however many
        frames are read before the worker gets a turn, the same calls are
        admitted."""
        admitted = []
        limited = self.options.rate_limit > 0
        bound = self.options.rate_burst + (1 if self.logged_in and not self._executing else 0)
        for entry in entries:
            if not isinstance(entry, Call):
                admitted.append(entry)
            elif (not limited or self._queued_calls < bound) and self._limiter.take():
                self._queued_calls += 1
                admitted.append(entry)
            else:
                metrics.rate_limited()
                metrics.command(command_label(entry.method), "rateLimited", 0.0)
                if not entry.is_notification:
                    retry = self._limiter.retry_after_ms() if self._limiter.tokens < 1 else math.ceil(1000 / self.options.rate_limit)
                    admitted.append(self._error_reply(entry, ChatServiceError("rateLimited", retry)))
        return admitted

    async def _run(self):
        self.user_name = await self.service.login(self)
        self.logged_in = self.user_name is not None
        while self.logged_in and not self.closed and self.service.is_running:
            if not self._work:
                self._work = None
                self._waiter = asyncio.get_running_loop().create_future()
                try:
                    await self._waiter
                finally:
                    self._waiter = None
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
            if not isinstance(entry, Call):
                replies.append(entry)
                continue
            self._queued_calls -= 1
            if self.closed:
                return
            outcome = "ok"
            try:
                reply = self._result_reply(entry, await self.service.execute_request(self, entry.method, entry.params))
            except ChatServiceError as exc:
                reply = self._error_reply(entry, exc)
                outcome = exc.code
            metrics.command(command_label(entry.method), outcome, time.monotonic() - arrived)
            if not entry.is_notification:
                replies.append(reply)
        if replies:
            for text in self._reply_texts(replies, is_batch):
                self._send_text(text)

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


class MissingOriginAllowed(OriginValidator):
    """Admit non-browser clients (no Origin); a present Origin must match the hosts."""

    def valid_origin(self, parsed_origin):
        return parsed_origin is None or super().valid_origin(parsed_origin)

    def admits(self, scope):
        """Whether a WebSocket handshake passes, its Origin header read as
        OriginValidator reads it (the last one counts), without the coroutine
        an idle connection would keep suspended around its application."""
        parsed_origin = None
        for name, value in scope.get("headers", ()):
            if name == b"origin":
                parsed_origin = urlparse(value.decode("latin1"))
        return self.valid_origin(parsed_origin)


def origin_rule():
    """The Origin rule of both endpoints: the allowed hosts (in DEBUG without
    any, the local ones)."""
    allowed = list(settings.ALLOWED_HOSTS)
    if settings.DEBUG and not allowed:
        allowed = ["localhost", "127.0.0.1", "[::1]"]
    return MissingOriginAllowed(None, allowed)
