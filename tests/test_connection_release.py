"""A closed WebSocket connection is freed by reference counting, not left in
reference cycles for the collector's full collections: neither its consumer
and socket (chatproject/consumers.py) nor daphne's protocol
(chatproject/daphne_integration.py, ChatWebSocketProtocol.connectionLost)."""
import asyncio
import gc
import subprocess
import sys
from pathlib import Path

from chatproject.asgi import build_application
from chatproject.consumers import ChatConsumer, JsonRpcSocket
from chatproject.connection import WebSocketOutbox
from tests.client import connect
from tests.conftest import U1

ROOT = Path(__file__).resolve().parent.parent


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


def test_a_closed_daphne_protocol_leaves_no_cycle():
    child = subprocess.run(
        [sys.executable, "-c", "from tests.test_connection_release import child_main; child_main()"],
        capture_output=True, text=True, cwd=ROOT, timeout=90,
    )
    assert child.returncode == 0, child.stderr[-3000:]
    assert child.stdout == "freed"


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
