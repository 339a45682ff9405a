"""Engine.IO sessions: one per client, on long-polling, WebSocket, or polling
upgraded to WebSocket, with the heartbeats of its generation.

Outgoing packets of a polling session wait in a buffer for the client's next
GET; on a WebSocket they go through a `WebSocketOutbox`. One sweeper task per
process sends the Engine.IO 4 pings and ends sessions that stopped talking
(no packet for pingInterval + pingTimeout), so a dead client leaves no ghost.
"""
import asyncio
import logging
import secrets
import time

from .engineio import CLOSE, MESSAGE, NOOP, PING, PONG, EngineError, encode_payload

logger = logging.getLogger("chat")

CLOSE_NORMAL = 1000
CLOSE_PROTOCOL_ERROR = 4002  # daphne's WebSocket closes with 1000 or 3000-4999 only
CLOSE_UNSUPPORTED_DATA = 4003
CLOSE_FLUSH_SECONDS = 2.0  # how long a server-side close waits for a poller to take it
UPGRADE_TIMEOUT_SECONDS = 10.0  # as Engine.IO's reference server: an idle probe would block the session's upgrades


class Engine:
    """This process's Engine.IO sessions and their heartbeat sweeper."""

    def __init__(self, ping_interval, ping_timeout, max_unsent_bytes):
        self.ping_interval = ping_interval
        self.ping_timeout = ping_timeout
        self.max_unsent_bytes = max_unsent_bytes  # the service's maxOutgoingBytes: see EngineSession.answer
        self.sessions = {}  # sid -> EngineSession
        self._sweeper = None

    @classmethod
    def within(cls, heartbeat_timeout_ms, max_unsent_bytes):
        """Engine.IO's usual 25 s / 20 s, shortened so that a dead session ends
        within the service's `heartbeatTimeout` (docs/protocol.md, Limits: no
        ghost presence)."""
        share = heartbeat_timeout_ms * 0.4 / 1000
        return cls(min(25.0, share), min(20.0, share), max_unsent_bytes)

    def open(self, generation, scope):
        session = EngineSession(self, secrets.token_urlsafe(15), generation, scope)
        self.sessions[session.sid] = session
        if self._sweeper is None:
            self._sweeper = asyncio.ensure_future(self._sweep())
        return session

    async def _sweep(self):
        tick = min(1.0, self.ping_interval / 4, self.ping_timeout / 4)
        try:
            while self.sessions:
                await asyncio.sleep(tick)
                now = time.monotonic()
                for session in list(self.sessions.values()):
                    session.check(now)
        finally:
            self._sweeper = None


class EngineSession:
    """One Engine.IO connection. `listener` (set by the namespace layer) gets
    `message(text)` for each message packet and `ended()` once; its
    `connected` says whether a namespace socket is open."""

    def __init__(self, engine, sid, generation, scope):
        self.engine = engine
        self.sid = sid
        self.generation = generation
        self.scope = scope  # the handshake request's
        self.transport = "polling"
        self.listener = None
        self.closing = False  # the server closed it; the close may still be unsent
        self.ended = False
        self.failure = None  # why the client's input ended the session
        self._buffer = []
        self._buffer_chars = 0
        self._wakeup = asyncio.Event()  # something to send to a waiting GET
        self._taken = asyncio.Event()  # the buffer was taken (or the session ended)
        self._polling = False  # a GET is waiting
        self._outbox = None  # the WebSocket's, once on one
        self._ws_open = False
        self._probe = None  # the outbox of a WebSocket being upgraded to
        self._probe_answered = False  # one `3probe` per upgrade: a client repeating `2probe` unread would pile them up
        self._probe_began = None
        now = time.monotonic()
        self._opened_at = now
        self.last_seen = now
        self._last_ping = now
        self._closed_at = None

    # Outgoing.

    def send(self, packet):
        if self.closing or self.ended:
            return
        self._put(packet)

    def answer(self, packet):
        """A reply to the client's own packet (a pong, a CONNECT_ERROR): a client
        that sends them without reading would pile them up without end."""
        if self.unsent_bytes() > self.engine.max_unsent_bytes:
            raise EngineError("the client does not read its answers")
        self.send(packet)

    def _put(self, packet):
        if self._outbox is not None:
            self._outbox.send_text(packet)
        else:
            self._buffer.append(packet)
            self._buffer_chars += len(packet)
            self._wakeup.set()

    def unsent_bytes(self):
        return self._outbox.unsent_bytes() if self._outbox is not None else self._buffer_chars

    def discard(self):
        """Drop what the client has not taken (a slow reader's backlog)."""
        if self._outbox is not None:
            self._outbox.discard()
        else:
            self._buffer.clear()
            self._buffer_chars = 0

    def close(self):
        """Close from the server: nothing more is sent. The client closes the
        session once it has read the namespace's DISCONNECT (closing it here
        at once would make a socket.io 4 client drop the packets before it);
        one that does not is ended by the sweeper after pingTimeout."""
        if self.closing or self.ended:
            return
        self.closing = True
        self._closed_at = time.monotonic()

    async def flushed(self):
        """Until what was sent is taken, the session ended, or a short while passed."""
        if self._outbox is not None:
            await self._outbox.flush()
            return
        if not self._buffer or self.ended:
            return
        self._taken.clear()
        try:
            await asyncio.wait_for(self._taken.wait(), CLOSE_FLUSH_SECONDS)
        except asyncio.TimeoutError:
            pass

    def end(self, reason, close_code=CLOSE_NORMAL):
        """The session is over: forget it, close its WebSocket, tell the listener; once."""
        if self.ended:
            return
        logger.debug("engine.io session %s ended: %s", self.sid, reason)
        self.ended = True
        self.engine.sessions.pop(self.sid, None)
        if self._outbox is not None:
            self._close_websocket(close_code)
        if self._probe is not None:
            self._probe.close(CLOSE_NORMAL)
            self._probe = None
        self._wakeup.set()
        self._taken.set()
        if self.listener is not None:
            self.listener.ended()

    def fail(self, reason, close_code=CLOSE_PROTOCOL_ERROR):
        """The client broke the protocol: end the session, and say why."""
        logger.info("engine.io session %s closed: %s", self.sid, reason)
        self.failure = reason
        self.end(reason, close_code)

    def _close_websocket(self, code):
        if self._ws_open:
            self._ws_open = False
            self._outbox.close(code)

    # Polling.

    async def poll(self, request_gone):
        """A GET: the payload of what is buffered, waiting for something.
        None when the client went away first (`request_gone` finished)."""
        if self._polling:
            raise EngineError("overlapping polls")
        self._polling = True
        try:
            while not self._buffer and not self.ended and self.transport == "polling":
                self._wakeup.clear()
                waiter = asyncio.ensure_future(self._wakeup.wait())
                try:
                    await asyncio.wait([waiter, request_gone], return_when=asyncio.FIRST_COMPLETED)
                finally:
                    waiter.cancel()
                if request_gone.done():
                    return None
        finally:
            self._polling = False
        packets, self._buffer, self._buffer_chars = self._buffer, [], 0
        self._taken.set()
        if not packets:
            packets = [CLOSE] if self.ended else [NOOP]
        return encode_payload(packets, self.generation)

    # WebSocket.

    def attach_websocket(self, outbox):
        """A WebSocket opened for this session from the start."""
        self.transport = "websocket"
        self._outbox = outbox
        self._ws_open = True

    def carried_by(self, outbox):
        return self._outbox is outbox

    def begin_upgrade(self, outbox):
        if self.transport != "polling" or self.ended or self.closing or self._probe is not None:
            raise EngineError("cannot upgrade this session")
        self._probe = outbox
        self._probe_answered = False
        self._probe_began = time.monotonic()

    def probed(self, outbox):
        """`2probe` on the upgrading WebSocket: answer it there, and end the
        waiting GET with a noop so that the client can pause polling."""
        if outbox is not self._probe or self._probe_answered:
            raise EngineError("probe without an upgrade, or a second one")
        self._probe_answered = True
        outbox.send_text(PONG + "probe")
        if not self._buffer:
            self._put(NOOP)

    def upgraded(self, outbox):
        """`5` on the probed WebSocket: it carries the session from now on."""
        if outbox is not self._probe:
            raise EngineError("upgrade without a probe")
        self._probe = None
        packets, self._buffer, self._buffer_chars = self._buffer, [], 0
        self._taken.set()
        self.attach_websocket(outbox)
        for packet in packets:
            outbox.send_text(packet)
        self._wakeup.set()  # a GET still waiting is answered with a noop
        self.last_seen = time.monotonic()

    def upgrade_failed(self, outbox):
        if outbox is self._probe:
            self._probe = None

    def websocket_gone(self, outbox):
        """The WebSocket closed (client, network, or daphne)."""
        if outbox is self._outbox:
            self._ws_open = False
            self.end("websocket closed")
        else:
            self.upgrade_failed(outbox)

    # Incoming.

    def receive(self, packet):
        """An Engine.IO packet from the client (checked by the codec). Nothing
        after a close in the same payload runs: a socket it connected would
        outlive the session."""
        if self.ended:
            return
        self.last_seen = time.monotonic()
        kind, data = packet[0], packet[1:]
        if kind == MESSAGE:
            if self.listener is not None and not self.closing:
                self.listener.message(data)
        elif kind == PING and self.generation == 3:
            self.answer(PONG + data)
        elif kind == PONG and self.generation == 4:
            pass
        elif kind == CLOSE:
            self.end("closed by the client")
        elif kind != NOOP:
            raise EngineError(f"unexpected packet type {kind!r}")

    def check(self, now):
        """The sweeper's visit: drop an upgrade not finished in time, send a
        due ping, end a dead or closed session."""
        if self._probe is not None and now - self._probe_began > UPGRADE_TIMEOUT_SECONDS:
            logger.info("engine.io session %s: upgrade not finished within %s s", self.sid, UPGRADE_TIMEOUT_SECONDS)
            probe, self._probe = self._probe, None
            probe.close(CLOSE_NORMAL)  # the session goes on on polling
        if self.closing and now - self._closed_at > self.engine.ping_timeout:
            self.end("not closed by the client")
        elif now - self.last_seen > self.engine.ping_interval + self.engine.ping_timeout:
            self.end("ping timeout")
        elif not self.listener.connected and now - self._opened_at > self.engine.ping_interval + self.engine.ping_timeout:
            self.end("no namespace connected")  # a handshake alone holds nothing for long
        elif self.generation == 4 and now - self._last_ping >= self.engine.ping_interval:
            self._last_ping = now
            self.send(PING)
