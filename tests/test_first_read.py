"""A new HTTP connection before its first read (chatproject/ws_upgrade.py,
FirstRead): a client that sends nothing is closed after daphne's HTTP idle
timeout, and whatever does not take the WebSocket shortcut reaches daphne's
HTTP channel, built at that first read, with every later read and the loss.
The shortcut itself needs a TCP connection: tests/e2e/test_handshake_e2e.py."""
import sys

from tests.child_process import run_in_child


def test_first_read_keeps_daphnes_http_behaviour():
    assert run_in_child(__name__, "child_main") == "ok"


def child_main():
    """daphne's import installs a Twisted reactor, which the test process must not have."""
    import types

    from twisted.internet.error import ConnectionDone
    from twisted.internet.task import Clock
    from twisted.internet.testing import StringTransport
    from twisted.python.failure import Failure

    from chatproject.daphne_integration import _customise_daphne

    _customise_daphne()
    from daphne.http_protocol import HTTPFactory

    server = types.SimpleNamespace(protocol_connected=lambda protocol: None, protocol_disconnected=lambda protocol: None)
    factory = HTTPFactory(server)
    clock = factory.reactor = Clock()

    def connected():
        transport = StringTransport()
        protocol = factory.buildProtocol(None)
        protocol.makeConnection(transport)
        return protocol, transport

    # Silent: closed after the idle timeout, not before.
    protocol, transport = connected()
    clock.advance(factory.timeOut - 1)
    assert not transport.disconnecting
    clock.advance(1)
    assert transport.disconnecting and not clock.getDelayedCalls()

    # Lost before any read: no timer is left behind.
    protocol, transport = connected()
    protocol.connectionLost(Failure(ConnectionDone()))
    assert not clock.getDelayedCalls()

    # A request split over reads: the HTTP channel gets both reads, with its own idle timeout.
    protocol, transport = connected()
    protocol.dataReceived(b"GET /nowhere HTTP/1.1\r\n")
    (channel_timeout,) = clock.getDelayedCalls()
    assert channel_timeout.getTime() == clock.seconds() + factory.timeOut
    protocol.dataReceived(b"Host: x\r\nBad Name: y\r\n\r\n")  # daphne refuses the header name
    assert transport.value().startswith(b"HTTP/1.1 400 "), transport.value()
    protocol.connectionLost(Failure(ConnectionDone()))
    assert not clock.getDelayedCalls()  # the loss reached the channel

    # A bad first read: daphne's answer.
    protocol, transport = connected()
    protocol.dataReceived(b"BAD\r\n\r\n")
    assert transport.value() == b"HTTP/1.1 400 Bad Request\r\n\r\n" and transport.disconnecting
    sys.stdout.write("ok")
