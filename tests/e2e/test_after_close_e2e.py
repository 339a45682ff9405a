"""Nothing after a close (docs/protocol.md, Close codes and Limits): once the service has
decided to close a connection, no later frame of it is executed, even frames
that arrived in the same TCP segment as the one that closed it."""
import asyncio
import json

import pytest

from .attack_tools import RawWs, encode_frame, own_cluster, request, start_command_server  # noqa: F401
from .harness import ws_client

pytestmark = pytest.mark.e2e

ROOMS_ON = {"CHAT_ENABLE_ROOMS_MANAGEMENT": "true"}


def message_frames(first_id, count, room="lobby"):
    return b"".join(
        encode_frame(json.dumps(request(first_id + i, "roomMessage", room, {"textMessage": f"late {i}"})))
        for i in range(count)
    )


async def raw_login(port, user):
    ws = await RawWs.connect(port, user)
    login = await ws.recv()
    assert login["method"] == "loginConfirmed", login
    return ws


async def test_frames_after_an_oversized_frame_are_not_executed(own_cluster):
    """Finding 4, under plain daphne (no size flags, so the service's own
    4009 check decides): a 70 KB frame then five roomMessage frames in one
    write closes with 4009, and the room's lastMessageId does not move."""
    cluster = own_cluster(env=ROOMS_ON)
    server = await asyncio.to_thread(start_command_server, cluster, "plain")
    async with ws_client(server, user="watcher") as watcher:
        await watcher.call("roomCreate", "lobby", False)
        await watcher.call("roomJoin", "lobby")
        ws = await raw_login(server.port, "mallory")
        try:
            await ws.send(request(1, "roomJoin", "lobby"))
            assert await ws.reply(1) == {"jsonrpc": "2.0", "id": 1, "result": 1}
            await ws.send(request(2, "roomMessage", "lobby", {"textMessage": "before"}))
            assert await ws.reply(2) == {"jsonrpc": "2.0", "id": 2, "result": 1}
            before = (await watcher.call("roomHistoryInfo", "lobby"))["lastMessageId"]
            assert before == 1
            assert (await watcher.next_notification("roomMessage"))[1]["textMessage"] == "before"

            oversized = json.dumps(request(3, "roomMessage", "lobby", {"textMessage": "x" * 70_000}))
            ws.write(encode_frame(oversized) + message_frames(4, 5))
            assert await ws.close_code() == 4009
        finally:
            ws.abort()
        # The watcher's own later request is answered after anything of
        # mallory's could have run; nothing did.
        await watcher.no_notification("roomMessage", wait=2.0)
        info = await watcher.call("roomHistoryInfo", "lobby")
        assert info["lastMessageId"] == before, info
        assert await watcher.call("roomGetAccessList", "lobby", "userlist") == ["watcher"]


@pytest.mark.daphne_env(CHAT_MAX_CONNECTIONS_PER_USER="1", **ROOMS_ON)
async def test_frames_of_a_rejected_login_are_not_executed(daphne_server):
    """After loginRejected (tooManyConnections) and close 4403, nothing the
    rejected connection sent, even before its login was decided, runs."""
    async with ws_client(daphne_server, user="alice") as alice, ws_client(daphne_server, user="bob") as bob:
        assert alice.user == "alice"
        await alice.call("roomCreate", "lobby", False)
        await alice.call("roomJoin", "lobby")
        await bob.call("roomJoin", "lobby")

        ws = await RawWs.connect(daphne_server.port, "alice")
        try:
            # Written at once, before the login result can be read.
            ws.write(message_frames(1, 5))
            login = await ws.recv()
            assert login["method"] == "loginRejected", login
            assert login["params"][0]["data"]["code"] == "tooManyConnections", login
            assert await ws.close_code() == 4403
        finally:
            ws.abort()
        await bob.no_notification("roomMessage", wait=2.0)
        info = await bob.call("roomHistoryInfo", "lobby")
        assert info["lastMessageId"] == 0, info
        assert list(await alice.call("listOwnSockets")) == [alice.socket_id]
