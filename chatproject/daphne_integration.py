"""What the service needs from daphne beyond plain ASGI.

- The service starts when the reactor runs and closes before it stops
  (SIGTERM, SIGINT): daphne cancels consumers at shutdown, so the disconnect
  clean-up cannot live in them.
- Writing a frame skips autobahn's per-write debug formatting; autobahn's
  other debug lines format their arguments only when written, and a new
  connection finds the protocol options as class attributes instead of
  copying forty of them into its own dictionary.
- A WebSocket handshake read in one piece skips daphne's HTTP request
  (chatproject/ws_upgrade.py); the handshake's response and the closing
  handshake's frames are written directly, as the frames are.
- Outgoing messages have no size limit. daphne hands `maxFrameBytes` to
  autobahn, which applies it to what the server sends as well and raises, so
  a large reply or notification would never arrive; only incoming frames are
  limited (docs/protocol.md, Limits).
- An oversized incoming frame closes with 1009 instead of dropping the TCP
  connection (autobahn's failByDrop).
- A client has seconds, not autobahn's 0 to 1 s, to answer a close frame
  before the connection is reset (`CLOSE_HANDSHAKE_SECONDS`).
- Each WebSocket scope carries its connection's `Wire` under
  `scope["extensions"]["chat.wire"]`, so that a socket can tell how many bytes
  are still waiting unsent for a client that does not read (close 4008), write
  replies and notifications directly; and its `Wire.receive_frames` under
  `scope["extensions"]["chat.frames"]`, so that a socket can take incoming
  frames directly. The plain frames handed so are read without autobahn's
  general reader (chatproject/frames.py); autobahn reads every other frame.
- At shutdown the service closes its connections (4001) before daphne cancels
  the application instances: a cancelled consumer drops its connection.
- A closed protocol is not kept in a reference cycle by autobahn's
  `is_closed` (docs/architecture.md).
"""
import asyncio
import logging
import time

from chatproject import ws_upgrade
from chatproject.frames import plain_frame_limit, read_plain_frame, text_frame

logger = logging.getLogger("chat")

WIRE_EXTENSION = "chat.wire"
FRAMES_EXTENSION = "chat.frames"
_recent_frames = [(None, None), (None, None)]  # (text, its prepared frame), latest first: see Wire.send_text
_before_shutdown = []  # coroutine functions daphne's shutdown awaits before cancelling applications
_unflushed = []  # connections with frames waiting for the end of this loop turn: see _flush_turn
# How long a client has to answer the server's close frame before the TCP
# connection is dropped with a reset. autobahn's default is 1 s, and its
# timer rounds the deadline down to a whole second of the clock: 0 to 1 s,
# sometimes a few milliseconds. A client busy for that long (a loaded
# machine) then lost the close frame it had not read yet to the reset, and
# saw 1006 instead of the code. Here the client has 4 to 5 s.
CLOSE_HANDSHAKE_SECONDS = 5


class Wire:
    """The transport side of one daphne WebSocket connection."""

    __slots__ = ("_protocol",)

    def __init__(self, protocol):
        self._protocol = protocol

    def unsent_bytes(self):
        """Bytes written to the connection that the kernel has not taken yet."""
        protocol = self._protocol
        transport = protocol.transport  # None before the connection is made (Twisted's Protocol)
        try:
            buffered = len(transport.dataBuffer) - transport.offset + transport._tempDataLen
        except (AttributeError, TypeError):  # not yet connected, or a transport without Twisted's buffer (TLS)
            buffered = 0
        return protocol.chat_pending_bytes + buffered

    def send_text(self, text):
        """Write a text message now, without the ASGI hops (each costs more than
        the write); False when the connection is no longer open.

        A notification is handed to every recipient as the same string, one
        after the other: its frame is built once and reused while the same
        string keeps coming (daphne negotiates no compression, so one frame
        fits every connection, written as its bytes). A room of native and socket.io members
        alternates two strings per event (JSON-RPC and socket.io EVENT), so
        the two latest frames are kept."""
        protocol = self._protocol
        if protocol.state != protocol.STATE_OPEN:
            return False
        protocol.sendData(_prepared_frame(text))
        return True

    def receive_frames(self, receiver):
        """Hand every incoming frame (str for text, bytes for binary) to
        `receiver` as it is read, instead of queueing it as an ASGI message
        for the consumer (a task and a wait per frame in Channels); None
        restores the queue. The disconnect still arrives through the queue,
        after every frame read before it."""
        self._protocol.chat_receiver = receiver

    def abort(self):
        """Drop the TCP connection at once, discarding what is unsent."""
        self._protocol.chat_discard()
        transport = getattr(self._protocol, "transport", None)
        if transport is not None:
            transport.abortConnection()


def _prepared_frame(text):
    latest, previous = _recent_frames
    if latest[0] is text:
        return latest[1]
    if previous[0] is text:
        _recent_frames[0], _recent_frames[1] = previous, latest
        return previous[1]
    _recent_frames[0], _recent_frames[1] = (text, text_frame(text)), latest
    return _recent_frames[0][1]


def _flush_turn():
    """Write each connection's frames of this loop turn."""
    protocols = _unflushed[:]
    _unflushed.clear()
    for protocol in protocols:
        protocol.chat_flush()


def _write(transport, data):
    """One `send` when Twisted holds nothing unsent for a plain TCP connection,
    instead of its buffered write, which registers the socket with the event
    loop for one writable event and unregisters it after the write (two
    epoll_ctl calls and their bookkeeping per connection and turn). What the
    kernel does not take, and any write over TLS, goes through Twisted's
    buffer as before."""
    if (
        type(transport) is _tcp_server
        and transport.connected
        and not transport.disconnecting
        and not transport._tempDataLen
        and transport.offset == len(transport.dataBuffer)
    ):
        try:
            sent = transport.socket.send(data)
        except OSError:  # EAGAIN, or an error that Twisted's own write then reports
            sent = 0
        if sent == len(data):
            return
        data = data[sent:]
    transport.write(data)


_tcp_server = None  # twisted.internet.tcp.Server, once daphne is customised


def _customise_daphne():
    import autobahn.twisted.websocket as autobahn_twisted
    import autobahn.websocket.protocol as autobahn_protocol
    from daphne.server import Server
    from twisted.internet import defer, tcp

    global _tcp_server
    _tcp_server = tcp.Server
    from daphne.ws_protocol import WebSocketFactory, WebSocketProtocol

    if getattr(WebSocketProtocol, "_chat_customised", False):
        return

    class ChatWebSocketProtocol(WebSocketProtocol):
        _chat_customised = True
        chat_receiver = None  # see Wire.receive_frames

        chat_plain_frame_limit = None  # the largest payload read without autobahn, once open (see onOpen)

        def onOpen(self):
            """Plain frames are read without autobahn unless an option changes
            how autobahn reads them (compression, logging, no UTF-8 check...)."""
            if (
                self._perMessageCompress is None
                and self.applyMask
                and self.utf8validateIncoming
                and not (self.logFrames or self.logOctets or self.trackedTimings)
            ):
                self.chat_plain_frame_limit = plain_frame_limit(self.maxFramePayloadSize, self.maxMessagePayloadSize)
            super().onOpen()

        def dataReceived(self, data):
            """While frames go straight to a socket and autobahn is between
            messages, the plain frames at the head of what was read are handed
            to the socket as they are read (chatproject/frames.py); autobahn
            reads the rest, which keeps its order and its close codes. Skipped
            for plain frames: autobahn's traffic statistics and "message"
            event, which nothing reads. autobahn's own entry is passed over
            too: it formats a debug line for every read, even with debug
            logging off."""
            receiver = self.chat_receiver
            limit = self.chat_plain_frame_limit
            if (
                receiver is None
                or limit is None
                or self.muted
                or self.state != self.STATE_OPEN
                or self.data
                or self.current_frame is not None
                or self.inside_message
            ):
                self._dataReceived(data)
                return
            offset = 0
            while self.state == self.STATE_OPEN:
                frame = read_plain_frame(data, offset, limit)
                if frame is None:
                    break
                payload, offset = frame
                receiver(payload)
            if offset:
                self.last_ping = time.time()  # as daphne does: the ping timer counts from the last frame
                if self.autoPingTimeoutCall and self.autoPingRestartOnAnyTraffic:
                    self._cancelAutoPingTimeoutCall()  # as autobahn does at the end of a data frame
                data = data[offset:]
            if data:
                self._dataReceived(data)

        def onMessage(self, payload, isBinary):
            receiver = self.chat_receiver
            if receiver is None or self.muted:
                return super().onMessage(payload, isBinary)
            self.last_ping = time.time()  # as daphne does: the ping timer counts from the last frame
            receiver(payload if isBinary else payload.decode("utf8"))

        chat_pending = None  # this loop turn's frames, written by one flush (_flush_turn)
        chat_pending_bytes = 0

        def sendData(self, data, sync=False, chopsize=None):
            """autobahn formats a debug line for every write, even with debug
            logging off: a third of the cost of writing a frame. The plain
            case (an open connection, nothing queued) is written without it,
            and a loop turn's frames to one connection are written together
            at the end of the turn (`_flush_turn`), without autobahn's
            traffic statistics, which nothing reads (as for plain incoming
            frames). Any other write first flushes what waits, so the order
            holds."""
            if sync or chopsize or self.send_queue or self.logOctets:
                self.chat_flush()
                return super().sendData(data, sync, chopsize)
            if self.state != self.STATE_OPEN:
                self._chat_send_now(data)
                return
            if self.chat_pending is None:
                if not _unflushed:
                    asyncio.get_running_loop().call_soon(_flush_turn)
                _unflushed.append(self)
                self.chat_pending = [data]
            else:
                self.chat_pending.append(data)
            self.chat_pending_bytes += len(data)

        def _chat_send_now(self, data):
            """The handshake's response and the closing handshake's frames
            (any write outside the open state), written at once with `_write`:
            Twisted's buffered write would register the socket for one
            writable event per connection and unregister it after."""
            self.chat_flush()
            _write(self.transport, data)
            if self.state == self.STATE_CONNECTING:
                self.trafficStats.preopenOutgoingOctetsWireLevel += len(data)

        def chat_flush(self):
            pending = self.chat_pending
            if pending is not None:
                self.chat_discard()
                _write(self.transport, pending[0] if len(pending) == 1 else b"".join(pending))

        def chat_discard(self):
            self.chat_pending = None
            self.chat_pending_bytes = 0

        def _closeConnection(self, abort=False):
            """What waits is written before a close (an abort discards it)."""
            if abort:
                self.chat_discard()
            else:
                self.chat_flush()
            super()._closeConnection(abort)

        def connectionLost(self, reason):
            """autobahn resolves `is_closed` with the protocol itself, a cycle
            that left every closed connection (its transport, application
            and socket, some sixty objects) to the collector's full
            collections (with the consumer's cycle, half their time in the
            bench's connections load). Once what waited for it has had the
            protocol, its result is None and the connection is freed as soon
            as it is let go."""
            super().connectionLost(reason)
            self.is_closed.addCallback(_no_result)

        def serverSend(self, content, binary=False):
            limit = self.maxMessagePayloadSize
            self.maxMessagePayloadSize = 0  # the limit is for incoming messages only
            try:
                super().serverSend(content, binary)
            finally:
                self.maxMessagePayloadSize = limit

    WebSocketFactory.protocol = ChatWebSocketProtocol
    ws_upgrade.install()
    WebSocketProtocol._chat_customised = True

    reset_options = WebSocketFactory.resetProtocolOptions
    set_options = WebSocketFactory.setProtocolOptions

    def reset_options_for_chat(factory):
        reset_options(factory)
        factory.failByDrop = False
        factory.closeHandshakeTimeout = CLOSE_HANDSHAKE_SECONDS
        factory.protocol = _protocol_with_options(ChatWebSocketProtocol, factory)

    def set_options_for_chat(factory, **options):
        set_options(factory, **options)
        factory.protocol = _protocol_with_options(ChatWebSocketProtocol, factory)

    WebSocketFactory.resetProtocolOptions = reset_options_for_chat
    WebSocketFactory.setProtocolOptions = set_options_for_chat
    for module in (autobahn_protocol, autobahn_twisted):
        for name in ("hltype", "hlval", "pformat"):
            if hasattr(module, name):
                setattr(module, name, _formatted_when_logged(getattr(module, name)))

    create_application = Server.create_application

    def create_application_with_wire(server, protocol, scope):
        if scope.get("type") == "websocket":
            wire = Wire(protocol)
            extensions = scope.setdefault("extensions", {})
            extensions[WIRE_EXTENSION] = wire
            extensions[FRAMES_EXTENSION] = wire.receive_frames
        return create_application(server, protocol, scope)

    Server.create_application = create_application_with_wire

    kill_all_applications = Server.kill_all_applications

    def close_service_then_kill_applications(server):
        """daphne's shutdown trigger: the service first closes every connection
        with 4001 and cleans up, then daphne cancels what is left."""
        async def close_then_kill():
            for close in _before_shutdown:
                await close()
            await kill_all_applications(server).asFuture(asyncio.get_running_loop())

        return defer.Deferred.fromFuture(asyncio.ensure_future(close_then_kill()))

    Server.kill_all_applications = close_service_then_kill_applications


def _protocol_with_options(protocol_class, factory):
    """The factory's protocol options as class attributes of a protocol class
    of its own: autobahn copies its forty options from the factory into every
    new protocol (`CONFIG_ATTRS`: an attribute each in the connection's
    dictionary, and a list of them for a debug line), which an empty
    `CONFIG_ATTRS` skips. Rebuilt by `setProtocolOptions` and
    `resetProtocolOptions`, so a connection still sees the options set when
    it was made."""
    options = {"CONFIG_ATTRS": ()}
    for name in protocol_class.CONFIG_ATTRS:
        value = getattr(factory, name)
        options[name] = staticmethod(value) if callable(value) else value  # a function stays unbound
    return type(protocol_class.__name__, (protocol_class,), options)


class _FormattedWhenLogged:
    """An argument of a debug line formatted only when the line is written."""

    __slots__ = ("_format", "_args", "_kwargs")

    def __init__(self, format, args, kwargs):
        self._format, self._args, self._kwargs = format, args, kwargs

    def __str__(self):
        return self._format(*self._args, **self._kwargs)

    def __format__(self, spec):
        return format(str(self), spec)


def _formatted_when_logged(format):
    """autobahn formats the arguments of its debug lines (`hltype`, `hlval`,
    `pformat`: qualified names, colours, a pretty-printed dump) before the
    logger drops them, several per connection and write, even with debug
    logging off; they are only ever arguments of log lines."""
    def formatter(*args, **kwargs):
        return _FormattedWhenLogged(format, args, kwargs)

    return formatter


def _no_result(result):
    return None


def attach_to_daphne(service):
    """Under daphne (its reactor is imported), tie the service to the process."""
    import sys

    if "twisted.internet.reactor" not in sys.modules:
        return
    from twisted.internet import reactor

    _customise_daphne()

    async def start():
        try:
            await service.start()
        except Exception:
            logger.exception("chat service failed to start")
            reactor.stop()

    async def close():
        try:
            await service.close()
        except Exception:
            logger.exception("chat service close failed")

    reactor.callWhenRunning(lambda: asyncio.ensure_future(start()))
    _before_shutdown.append(close)
