"""Redis goes away during traffic and comes back (docs/hooks-and-python-api.md,
"Redis outage"): two daphne processes on a private redis-server,
which the test stops and restarts on the same port. The machine's shared
Redis is never touched."""
import asyncio
import contextlib
import time

import pytest

from .harness import RedisServer, RpcError, wait_until, ws_client

pytestmark = pytest.mark.e2e

ROOM = "room1"
NOTICE = 1.0  # s: with heartbeatRate 200 ms, every command this long after Redis stops is refused


def ok_after(outcomes, since):
    """How many commands succeeded after ``since`` (time.monotonic())."""
    return sum(1 for t, _, kind, _ in outcomes if kind == "ok" and t > since)


def refused_after(outcomes, since):
    return any(kind == "unavailable" and t > since for t, _, kind, _ in outcomes)


@pytest.fixture
def private_redis(tmp_path):
    redis = RedisServer(tmp_path).start()
    try:
        yield redis
    finally:
        redis.stop()


async def wait_message(client, message_id, timeout=10):
    """The roomMessage notification with this id (others are skipped)."""
    deadline = time.monotonic() + timeout
    while True:
        _, message = await client.next_notification("roomMessage", timeout=max(0.1, deadline - time.monotonic()))
        if message["id"] == message_id:
            return message


async def writer(client, tag, outcomes, stop):
    """roomMessage after roomMessage: (time, text, "ok" or error code, id)."""
    k = 0
    while not stop.is_set():
        text = f"{tag}-{k}"
        k += 1
        try:
            message_id = await client.call("roomMessage", ROOM, {"textMessage": text})
            outcomes.append((time.monotonic(), text, "ok", message_id))
        except RpcError as exc:
            assert (exc.code, exc.data["code"]) == (-32000, "unavailable"), exc.error
            outcomes.append((time.monotonic(), text, "unavailable", None))
        await asyncio.sleep(0.02)


async def test_processes_survive_a_redis_outage_and_reconnect(daphne_cluster, private_redis):
    a, b = daphne_cluster(2, env={"CHAT_HEARTBEAT_RATE": "200"}, redis=private_redis.url)
    made = a.manage("chat_add_room", ROOM)
    assert made.returncode == 0, made.stderr
    async with contextlib.AsyncExitStack() as stack:
        sa = await stack.enter_async_context(ws_client(a, user="user1"))
        sb = await stack.enter_async_context(ws_client(b, user="user2"))
        late = await stack.enter_async_context(ws_client(a, user="user3"))
        for client in (sa, sb):
            assert await client.call("roomJoin", ROOM) == 1
        first = await sa.call("roomMessage", ROOM, {"textMessage": "before"})
        await wait_message(sb, first)

        outcomes = {"a": [], "b": []}
        stop = asyncio.Event()
        tasks = [asyncio.ensure_future(writer(c, tag, outcomes[tag], stop)) for tag, c in (("a", sa), ("b", sb))]
        try:
            await wait_until(lambda: all(ok_after(seen, 0) for seen in outcomes.values()),
                             timeout=30, what="both writers succeeding")
            await asyncio.to_thread(private_redis.stop)
            down_at = time.monotonic()
            # Both processes noticed (heartbeat probe) and refuse state changes.
            await wait_until(
                lambda: all(refused_after(seen, down_at + NOTICE) for seen in outcomes.values()),
                timeout=60, interval=0.1, what="both processes refusing while Redis is down")
            with pytest.raises(RpcError) as refused:
                await late.call("roomJoin", ROOM)
            assert refused.value.data["code"] == "unavailable"
            assert a.running and b.running
            await asyncio.to_thread(private_redis.start)
            up_at = time.monotonic()
            await wait_until(lambda: all(ok_after(seen, up_at) >= 3 for seen in outcomes.values()),
                             timeout=60, interval=0.1, what="both writers succeeding after Redis is back")
        finally:
            stop.set()
            await asyncio.gather(*tasks)

        for tag, seen in outcomes.items():
            during = [kind for t, _, kind, _ in seen if down_at + NOTICE < t < up_at]
            assert during and set(during) == {"unavailable"}, (tag, during)
            assert any(kind == "ok" for t, _, kind, _ in seen if t > up_at), (tag, seen[-5:])
            assert seen[-1][2] == "ok", (tag, seen[-5:])
        committed_in_outage = [
            text for seen in outcomes.values() for t, text, kind, _ in seen if kind == "ok" and down_at < t < up_at
        ]
        print(f"commands that committed after Redis stopped and still succeeded: {committed_in_outage}")
        assert a.running and b.running

        # Each process reconnected by itself: delivery across them and new
        # group subscriptions work again.
        assert await late.call("roomJoin", ROOM) == 1
        from_a = await sa.call("roomMessage", ROOM, {"textMessage": "after from A"})
        from_b = await sb.call("roomMessage", ROOM, {"textMessage": "after from B"})
        await wait_message(sb, from_a)
        await wait_message(late, from_b)
        await wait_message(sa, from_b)

        # Nothing that was acknowledged is lost; nothing refused was stored.
        acknowledged = {first: "before", from_a: "after from A", from_b: "after from B"}
        for seen in outcomes.values():
            acknowledged.update({message_id: text for _, text, kind, message_id in seen if kind == "ok"})
        info = await late.call("roomHistoryInfo", ROOM)
        assert info["lastMessageId"] == len(acknowledged)
        stored, after = {}, 0
        while after < info["lastMessageId"]:
            page = await sb.call("roomHistoryGet", ROOM, after, 100)
            stored.update({m["id"]: m["textMessage"] for m in page})
            after = page[0]["id"]
        assert stored == acknowledged

    assert await a.astop() == 0
    assert await b.astop() == 0
