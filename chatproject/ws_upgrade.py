"""A WebSocket handshake read in one piece goes from the connection straight
to the WebSocket protocol.

daphne takes every connection as HTTP: Twisted's HTTPChannel parses the
request line and headers into daphne's WebRequest, which sees the Upgrade
header, builds the WebSocket protocol, writes the request out again and
feeds it to autobahn, which parses it a second time (bench/RESULTS.md:
a fifth of a new connection's CPU, with the direct handshake writes of
daphne_integration.py). When a plain TCP
connection's first read is one whole upgrade request of plain headers with
nothing after them, its bytes go to the WebSocket protocol as read, and
daphne's HTTP channel is never built.
Anything else (a request split over reads or over PLAIN_REQUEST_LIMIT, a
body or bytes after the headers, a header daphne would refuse or Twisted
would rewrite, TLS, a Unix socket) takes daphne's path unchanged, its
errors included; autobahn checks the handshake itself either way.
"""
import re

PLAIN_REQUEST_LIMIT = 8192  # far below Twisted's limits on header lines and their number
_REQUEST_LINE = re.compile(rb"GET ([\x21-\x7e]+) HTTP/1\.1")
# daphne's header-name rule; values of printable ASCII only.
_HEADER = re.compile(rb"([-!#$%&'*+.^_`|~0-9a-zA-Z]+):[ \t]*([\x20-\x7e]*)")
_BODY_HEADERS = (b"content-length", b"transfer-encoding")


def upgrade_target(data):
    """The request target (path and query) when `data` is exactly one whole
    plain WebSocket upgrade request, else None."""
    if len(data) > PLAIN_REQUEST_LIMIT or not data.endswith(b"\r\n\r\n"):
        return None
    lines = data[:-4].split(b"\r\n")
    request = _REQUEST_LINE.fullmatch(lines[0])
    if request is None:
        return None
    upgrade = None
    for line in lines[1:]:
        header = _HEADER.fullmatch(line)  # an empty line (a second request) fails too
        if header is None:
            return None
        name = header[1].lower()
        if name == b"upgrade":
            if upgrade is None:  # daphne reads the first
                upgrade = header[2]
        elif name in _BODY_HEADERS:
            return None
    if upgrade is None or upgrade.strip().lower() != b"websocket":
        return None
    return request[1]


def install():
    """daphne's HTTP connections take the shortcut from now on."""
    from daphne.http_protocol import HTTPFactory
    from twisted.internet import protocol, tcp
    from twisted.web.http import HTTPChannel, _GenericHTTPChannelProtocol

    class FirstRead(protocol.Protocol):
        """A new connection until its first read decides: the WebSocket
        protocol at once, or daphne's HTTP channel, built only then (building
        it for every connection cost ~6% of a new WebSocket's CPU)."""

        factory = callLater = timeOut = requestFactory = None  # HTTPFactory.buildProtocol sets them
        _channel = None
        _idle = None  # the HTTP idle timeout of a client that sends nothing

        def connectionMade(self):
            if self.timeOut is not None:
                self._idle = self.callLater(self.timeOut, self.transport.loseConnection)

        def dataReceived(self, data):
            if self._channel is not None:
                return self._channel.dataReceived(data)
            self._stop_idle_timeout()
            transport = self.transport
            if type(transport) is tcp.Server:
                target = upgrade_target(data)
                if target is not None:
                    return _hand_over(self.factory, transport, target, data)
            channel = self._channel = _GenericHTTPChannelProtocol(HTTPChannel())
            channel.factory, channel.callLater = self.factory, self.callLater
            channel.timeOut, channel.requestFactory = self.timeOut, self.requestFactory
            channel.makeConnection(transport)
            return channel.dataReceived(data)

        def connectionLost(self, reason):
            if self._channel is not None:
                self._channel.connectionLost(reason)
            else:
                self._stop_idle_timeout()

        def _stop_idle_timeout(self):
            if self._idle is not None:
                if self._idle.active():
                    self._idle.cancel()
                self._idle = None

    HTTPFactory.protocol = FirstRead


def _hand_over(http_factory, transport, target, data):
    """What daphne's WebRequest does for an upgrade, minus the request."""
    protocol = http_factory.server.ws_factory.buildProtocol(transport.getPeer())
    protocol._raw_query_string = target.partition(b"?")[2]
    transport.protocol = protocol
    protocol.makeConnection(transport)
    protocol.dataReceived(data)
