"""Frames handed from the server's connection straight to the socket (daphne's
"chat.frames" extension, chatproject/daphne_integration.py) behave as frames
through the consumer: calls run in order, the burst bound admits the same
calls however many frames arrive before the socket's worker gets a turn, and
the consumer takes its receiver back when it ends."""
import asyncio
import json

from chatproject.asgi import build_application
from chatproject.daphne_integration import FRAMES_EXTENSION
from tests.client import connect
from tests.conftest import M, R1, U1, eventually
from tests.test_limits import call


class Frames:
    """The extension as daphne offers it: the consumer installs the receiver."""

    def __init__(self):
        self.receiver = None

    def __call__(self, receiver):
        self.receiver = receiver


def with_frames(application, frames):
    async def app(scope, receive, send):
        scope = {**scope, "extensions": {**scope.get("extensions", {}), FRAMES_EXTENSION: frames}}
        await application(scope, receive, send)

    return app


async def test_frames_handed_straight_to_the_socket_run_in_order(chat):
    svc = await chat.start()
    await svc.add_room(R1)
    frames = Frames()
    client = await connect(with_frames(build_application(svc), frames), user=U1)
    assert frames.receiver is not None
    frames.receiver(json.dumps(call("roomJoin", R1, request_id=0)))
    for i in range(1, 4):
        frames.receiver(json.dumps(call("roomMessage", R1, M, request_id=i)))
    frames.receiver(b"binary")  # refused as an invalid request, in its place
    assert (await client.reply(0))["result"] == 1
    assert [(await client.reply(i))["result"] for i in range(1, 4)] == [1, 2, 3]
    assert (await client.reply(None))["error"]["data"]["code"] == "invalidRequest"


async def test_frames_read_back_to_back_are_bounded_by_the_burst(chat):
    """Eleven frames in one read, before the worker runs: the first call is the
    one it takes up, rateBurst more wait behind it, the rest are refused."""
    release = asyncio.Event()

    class Slow:
        async def room_join_before(self, info):
            await release.wait()

    svc = await chat.start(options={"rateLimit": 10**9, "rateBurst": 5}, hooks=Slow())
    await svc.add_room(R1)
    frames = Frames()
    client = await connect(with_frames(build_application(svc), frames), user=U1)
    frames.receiver(json.dumps(call("roomJoin", R1, request_id=0)))
    for i in range(1, 11):
        frames.receiver(json.dumps(call("roomHistoryInfo", R1, request_id=i)))
    socket = svc.transport.sockets[client.socket_id]
    await eventually(lambda: asyncio.sleep(0, socket._queued_calls == 5), timeout=3)
    release.set()
    assert "result" in await client.reply(0)
    assert all(["result" in await client.reply(i) for i in range(1, 6)])
    refused = [await client.reply(i) for i in range(6, 11)]
    assert all(reply["error"]["data"]["code"] == "rateLimited" for reply in refused)


async def test_the_consumer_takes_its_receiver_back_when_it_ends(chat):
    svc = await chat.start()
    frames = Frames()
    client = await connect(with_frames(build_application(svc), frames), user=U1)
    socket = svc.transport.sockets[client.socket_id]
    await client.close()
    await eventually(lambda: asyncio.sleep(0, frames.receiver is None))
    await socket.disconnected()
