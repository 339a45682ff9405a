"""A closed WebSocket connection is freed by reference counting, not left in
reference cycles for the collector's full collections: neither its consumer
and socket (chatproject/consumers.py) nor daphne's protocol
(chatproject/daphne_integration.py, ChatWebSocketProtocol.connectionLost).
A failed write, which the socket's outbox reports to the consumer, still
ends the socket."""
import asyncio
import gc
import sys

from channels.testing import WebsocketCommunicator

from chatproject.asgi import build_application
from chatproject.consumers import ChatConsumer, JsonRpcSocket
from chatproject.connection import WebSocketOutbox
from chatproject.daphne_integration import WIRE_EXTENSION
from tests.child_process import run_in_child
from tests.client import connect
from tests.conftest import U1


def cyclic_garbage():
    """The types of what only the collector would free now."""
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        gc.collect()
        return {type(value) for value in gc.garbage}
    finally:
        gc.set_debug(0)
        gc.garbage.clear()


async def test_a_closed_connections_consumer_and_socket_leave_no_cycle(chat):
    svc = await chat.start()
    application = build_application(svc)
    gc.collect()
    gc.disable()
    try:
        client = await connect(application, user=U1)
        socket = svc.transport.sockets[client.socket_id]
        await client.close()
        await socket.disconnected()
        await asyncio.sleep(0)  # the consumer's task ends
        del socket, client
        assert not cyclic_garbage() & {ChatConsumer, JsonRpcSocket, WebSocketOutbox}
    finally:
        gc.enable()


class ClosedWire:
    """daphne's connection once it is no longer open: every write fails."""

    def unsent_bytes(self):
        return 0

    def send_text(self, text):
        return False


async def test_a_failed_write_ends_the_socket_while_the_consumer_runs(chat):
    svc = await chat.start()
    application = build_application(svc)

    async def with_closed_wire(scope, receive, send):
        scope = {**scope, "extensions": {**scope.get("extensions", {}), WIRE_EXTENSION: ClosedWire()}}
        await application(scope, receive, send)

    communicator = WebsocketCommunicator(with_closed_wire, f"/ws/chat/?user={U1}")
    connected, _ = await communicator.connect(timeout=5)
    assert connected
    (socket,) = svc.transport.sockets.values()  # registered before the accept reached the client
    # loginConfirmed is the first write, and it fails: the socket is cleaned
    # up while its consumer still runs.
    await asyncio.wait_for(socket.disconnected(), 5)
    assert socket.logged_in and not communicator.future.done()
    assert await svc.get_instance_sockets() == {}
    await communicator.disconnect()


def test_a_closed_daphne_protocol_leaves_no_cycle():
    assert run_in_child(__name__, "child_main") == "freed"


def child_main():
    """A daphne WebSocket protocol connected and lost (daphne's import installs
    a Twisted reactor, which the test process must not have): print whether
    dropping it freed it."""
    import types
    import weakref

    from twisted.internet.error import ConnectionDone
    from twisted.internet.testing import StringTransport
    from twisted.python.failure import Failure

    from chatproject.daphne_integration import _customise_daphne

    _customise_daphne()
    from daphne.ws_protocol import WebSocketFactory

    server = types.SimpleNamespace(log_action=lambda *args: None, protocol_disconnected=lambda protocol: None)
    factory = WebSocketFactory(server, server="Daphne")
    factory.setProtocolOptions(openHandshakeTimeout=0)
    gc.collect()
    gc.disable()
    protocol = factory.buildProtocol(None)
    protocol.makeConnection(StringTransport())
    protocol.server, protocol.request, protocol.client_addr = server, types.SimpleNamespace(path="/ws/chat/"), None
    protocol.connectionLost(Failure(ConnectionDone()))
    closed = []
    protocol.is_closed.addCallback(closed.append)  # what waits after the close still gets a result
    assert closed == [None], closed
    freed = weakref.ref(protocol)
    del protocol
    sys.stdout.write("freed" if freed() is None else f"kept by {[type(r) for r in gc.get_referrers(freed())]}")
