"""What the service needs from daphne beyond plain ASGI.

- The service starts when the reactor runs and closes before it stops
  (SIGTERM, SIGINT): daphne cancels consumers at shutdown, so the disconnect
  clean-up cannot live in them.
- Writing a frame skips autobahn's per-write debug formatting, and opening a
  connection its pretty-printed dump of the protocol options.
- Outgoing messages have no size limit. daphne hands `maxFrameBytes` to
  autobahn, which applies it to what the server sends as well and raises, so
  a large reply or notification would never arrive; only incoming frames are
  limited (docs/protocol.md, Limits).
- An oversized incoming frame closes with 1009 instead of dropping the TCP
  connection (autobahn's failByDrop).
- Each WebSocket scope carries its connection's `Wire` under
  `scope["extensions"]["chat.wire"]`, so that a socket can tell how many bytes
  are still waiting unsent for a client that does not read (close 4008), write
  replies and notifications directly; and its `Wire.receive_frames` under
  `scope["extensions"]["chat.frames"]`, so that a socket can take incoming
  frames directly.
- At shutdown the service closes its connections (4001) before daphne cancels
  the application instances: a cancelled consumer drops its connection.
"""
import asyncio
import logging
import time

logger = logging.getLogger("chat")

WIRE_EXTENSION = "chat.wire"
FRAMES_EXTENSION = "chat.frames"
_recent_frames = [(None, None), (None, None)]  # (text, its prepared frame), latest first: see Wire.send_text
_before_shutdown = []  # coroutine functions daphne's shutdown awaits before cancelling applications


class Wire:
    """The transport side of one daphne WebSocket connection."""

    __slots__ = ("_protocol",)

    def __init__(self, protocol):
        self._protocol = protocol

    def unsent_bytes(self):
        """Bytes written to the connection that the kernel has not taken yet."""
        transport = getattr(self._protocol, "transport", None)
        try:
            return len(transport.dataBuffer) - transport.offset + transport._tempDataLen
        except (AttributeError, TypeError):
            return 0

    def send_text(self, text):
        """Write a text message now, without the ASGI hops (each costs more than
        the write); False when the connection is no longer open.

        A notification is handed to every recipient as the same string, one
        after the other: its frame is built once and reused while the same
        string keeps coming (daphne negotiates no compression, so one frame
        fits every connection). A room of native and socket.io members
        alternates two strings per event (JSON-RPC and socket.io EVENT), so
        the two latest frames are kept."""
        protocol = self._protocol
        if protocol.state != protocol.STATE_OPEN:
            return False
        protocol.sendPreparedMessage(_prepared_frame(protocol.factory, text))
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
        transport = getattr(self._protocol, "transport", None)
        if transport is not None:
            transport.abortConnection()


def _prepared_frame(factory, text):
    latest, previous = _recent_frames
    if latest[0] is text:
        return latest[1]
    if previous[0] is text:
        _recent_frames[0], _recent_frames[1] = previous, latest
        return previous[1]
    _recent_frames[0], _recent_frames[1] = (text, factory.prepareMessage(text.encode("utf-8"))), latest
    return _recent_frames[0][1]


def _customise_daphne():
    import autobahn.websocket.protocol as autobahn_protocol
    from daphne.server import Server
    from twisted.internet import defer
    from daphne.ws_protocol import WebSocketFactory, WebSocketProtocol

    if getattr(WebSocketProtocol, "_chat_customised", False):
        return

    class ChatWebSocketProtocol(WebSocketProtocol):
        _chat_customised = True
        chat_receiver = None  # see Wire.receive_frames

        def onMessage(self, payload, isBinary):
            receiver = self.chat_receiver
            if receiver is None or self.muted:
                return super().onMessage(payload, isBinary)
            self.last_ping = time.time()  # as daphne does: the ping timer counts from the last frame
            receiver(payload if isBinary else payload.decode("utf8"))

        def sendData(self, data, sync=False, chopsize=None):
            """autobahn formats a debug line for every write, even with debug
            logging off: a third of the cost of writing a frame. The plain
            case (an open connection, nothing queued) is written without it."""
            if sync or chopsize or self.send_queue or self.logOctets or self.state != self.STATE_OPEN:
                return super().sendData(data, sync, chopsize)
            self.transport.write(data)
            self.trafficStats.outgoingOctetsWireLevel += len(data)

        def _connectionMade(self):
            """autobahn pretty-prints its forty options for a debug line on every
            new connection, even with debug logging off: a twentieth of a login's
            CPU (bench/). The reactor is single-threaded, so nothing else formats
            while the printer is switched off."""
            pformat = autobahn_protocol.pformat
            autobahn_protocol.pformat = _no_format
            try:
                super()._connectionMade()
            finally:
                autobahn_protocol.pformat = pformat

        def serverSend(self, content, binary=False):
            limit = self.maxMessagePayloadSize
            self.maxMessagePayloadSize = 0  # the limit is for incoming messages only
            try:
                super().serverSend(content, binary)
            finally:
                self.maxMessagePayloadSize = limit

    WebSocketFactory.protocol = ChatWebSocketProtocol
    WebSocketProtocol._chat_customised = True

    reset_options = WebSocketFactory.resetProtocolOptions

    def reset_without_fail_by_drop(factory):
        reset_options(factory)
        factory.failByDrop = False

    WebSocketFactory.resetProtocolOptions = reset_without_fail_by_drop

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


def _no_format(value):
    return ""


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
