"""Per-connection limits through real daphne processes (docs/protocol.md,
Limits: rate, batches, connections per user)."""
import asyncio
import contextlib
import json
import time

import pytest

from .attack_tools import RawWs, encode_frame, request
from .harness import wait_until, ws_client

pytestmark = pytest.mark.e2e

RATE, BURST = 1, 10
RATE_ENV = {"CHAT_RATE_LIMIT": str(RATE), "CHAT_RATE_BURST": str(BURST),
            "CHAT_ENABLE_ROOMS_MANAGEMENT": "true"}


def assert_rate_limited(reply, req_id):
    """A rateLimited error reply; returns its retryAfterMs."""
    assert set(reply) == {"jsonrpc", "id", "error"} and reply["id"] == req_id, reply
    error = reply["error"]
    assert error["code"] == -32000, reply
    assert error["data"]["name"] == "ChatServiceError" and error["data"]["code"] == "rateLimited", reply
    [retry] = error["data"]["args"]
    assert type(retry) is int and retry > 0, reply
    assert error["message"] == f"Rate limit exceeded, retry in {retry} ms", reply
    return retry


def post(req_id, text):
    return request(req_id, "roomMessage", "lobby", {"textMessage": text})


async def last_id(client):
    return (await client.call("roomHistoryInfo", "lobby"))["lastMessageId"]


@pytest.mark.daphne_env(**RATE_ENV)
async def test_rate_limit_bucket(daphne_server):
    """30 requests at once on a fresh connection: the bucket's worth succeed,
    the rest get rateLimited and change nothing; the connection stays open;
    after retryAfterMs a request succeeds; a notification-style request takes
    a token too and gets no reply."""
    async with ws_client(daphne_server, user="watcher") as watcher, \
            ws_client(daphne_server, user="mallory") as joined:
        await watcher.call("roomCreate", "lobby", False)
        await watcher.call("roomJoin", "lobby")
        await joined.call("roomJoin", "lobby")  # mallory may post from any socket

        ws = await RawWs.connect(daphne_server.port, "mallory")
        try:
            assert (await ws.recv())["method"] == "loginConfirmed"
            started = time.monotonic()
            ws.write(b"".join(encode_frame(json.dumps(post(i, f"m{i}"))) for i in range(30)))
            replies = [await ws.reply(i) for i in range(30)]
            elapsed = time.monotonic() - started
            ok = [r["id"] for r in replies if "result" in r]
            # Tokens refilled while the burst was read may add a success or two.
            assert BURST <= len(ok) <= BURST + int(elapsed * RATE) + 1, (len(ok), elapsed)
            assert ok[:BURST] == list(range(BURST)), ok
            for reply in replies:
                if "error" in reply:
                    retry = assert_rate_limited(reply, reply["id"])
            assert [r["result"] for r in replies if "result" in r] == list(range(1, len(ok) + 1))
            assert await last_id(watcher) == len(ok)
            history = await watcher.call("roomHistoryGet", "lobby", 0, 100)
            assert sorted(m["textMessage"] for m in history) == sorted(f"m{i}" for i in ok)

            # Still open; once retryAfterMs has passed, a request succeeds.
            await asyncio.sleep(retry / 1000 + 0.05)
            await ws.send(request(100, "listOwnSockets"))
            reply = await ws.reply(100)
            assert len(reply["result"]) == 2, reply  # mallory's two sockets

            # Empty again: a notification-style post is dropped, unanswered.
            await ws.send(request(101, "listOwnSockets"))
            retry = assert_rate_limited(await ws.reply(101), 101)
            expected = len(ok)
            await ws.send(post(None, "dropped"))
            # A free token, taken by a notification-style post (executed, no
            # reply), leaves none for the request written with it.
            await asyncio.sleep(retry / 1000 + 0.05)
            ws.write(encode_frame(json.dumps(post(None, "noted"))) + encode_frame(json.dumps(post(102, "late"))))
            assert_rate_limited(await ws.recv(), 102)  # the first reply is 102's: none for the notification
            expected += 1
            retry_ms = 1000 // RATE
            await asyncio.sleep(retry_ms / 1000 + 0.05)
            await ws.send(post(103, "last"))
            reply = await ws.reply(103)
            expected += 1
            assert reply == {"jsonrpc": "2.0", "id": 103, "result": expected}, reply
            texts = [m["textMessage"] for m in await watcher.call("roomHistoryGet", "lobby", len(ok), 100)]
            assert texts == ["last", "noted"], texts
        finally:
            ws.abort()


@pytest.mark.daphne_env(CHAT_MAX_BATCH_LENGTH="5", CHAT_ENABLE_ROOMS_MANAGEMENT="true")
async def test_batch_length_limit(daphne_server):
    """A batch of maxBatchLength + 1 is refused whole with one invalidRequest
    (id null, args [maxBatchLength]); a batch of exactly maxBatchLength runs."""
    async with ws_client(daphne_server, user="alice") as alice:
        await alice.call("roomCreate", "lobby", False)
        await alice.call("roomJoin", "lobby")
        await alice.send_json([post(i, f"m{i}") for i in range(6)])
        reply = await alice.recv_json(timeout=10)
        assert reply == {"jsonrpc": "2.0", "id": None, "error": {
            "code": -32600, "message": "Invalid request",
            "data": {"name": "ChatServiceError", "code": "invalidRequest", "args": [5]}}}, reply
        assert await last_id(alice) == 0
        await alice.no_notification("roomMessage", wait=1.0)

        await alice.send_json([post(i, f"m{i}") for i in range(5)])
        while True:  # the room's notifications may come before the batch reply
            reply = await alice.recv_json(timeout=10)
            if isinstance(reply, list):
                break
        assert reply == [{"jsonrpc": "2.0", "id": i, "result": i + 1} for i in range(5)], reply
        assert await last_id(alice) == 5


async def login_outcome(server, user):
    """Log in on a raw connection; returns (first message, close code or None, ws)."""
    ws = await RawWs.connect(server.port, user)
    first = await ws.recv()
    if first["method"] == "loginConfirmed":
        return first, None, ws
    code = await ws.close_code()
    ws.abort()
    return first, code, None


async def test_connections_per_user_across_processes(daphne_cluster):
    """maxConnectionsPerUser 2, counted over two processes: a third login
    (on either) gets loginRejected tooManyConnections [2] and close 4403; once
    one connection closes, a new login succeeds."""
    a, b = daphne_cluster(2, env={"CHAT_MAX_CONNECTIONS_PER_USER": "2"}, redis=True)
    async with contextlib.AsyncExitStack() as stack:
        first = await stack.enter_async_context(ws_client(a, user="alice"))
        second = await stack.enter_async_context(ws_client(b, user="alice"))
        assert first.user == second.user == "alice"
        for server in (a, b):
            login, code, _ = await login_outcome(server, "alice")
            assert login["method"] == "loginRejected", login
            assert login["params"][0]["data"]["code"] == "tooManyConnections", login
            assert login["params"][0]["data"]["args"] == [2], login
            assert login["params"][0]["message"] == "Too many connections, limit 2", login
            assert code == 4403
        bob = await stack.enter_async_context(ws_client(a, user="bob"))
        assert bob.user == "bob"  # the limit is per user
        assert sorted(await second.call("listOwnSockets")) == sorted([first.socket_id, second.socket_id])

        await first.ws.close()

        async def logs_in():
            login, _, ws = await login_outcome(a, "alice")
            if ws is not None:
                stack.callback(ws.abort)
            return login["method"] == "loginConfirmed"

        await wait_until(logs_in, timeout=30, interval=0.5, what="a login after a close")
