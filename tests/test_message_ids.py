"""Message ids under concurrency (docs/protocol.md, History) and the cost of storing a message."""
import asyncio
import json

import pytest
from asgiref.sync import sync_to_async
from django.db import connection
from django.test.utils import CaptureQueriesContext

from messaging import store as messaging_store
from tests.conftest import R1, R2

USERS = [f"sender{n}" for n in range(5)]
PER_SOCKET = 20
TOTAL = len(USERS) * PER_SOCKET


async def send_pipelined(client, room, count):
    """Send `count` roomMessage requests back to back, then collect the replies' results."""
    request_ids = []
    for n in range(count):
        client._next_id += 1
        request_ids.append(client._next_id)
        await client.send_raw(
            json.dumps({
                "jsonrpc": "2.0",
                "id": client._next_id,
                "method": "roomMessage",
                "params": [room, {"textMessage": f"{client.socket_id} {n}"}],
            })
        )
    results = []
    for request_id in request_ids:
        reply = await client.reply(request_id, timeout=30)
        assert "error" not in reply, reply
        results.append(reply["result"])
    return results


async def collect_room_messages(client, count, timeout=30):
    """Take the first `count` roomMessage notifications (waiting for them), then check no more arrive."""
    received = [await client.notification("roomMessage", timeout=timeout) for _ in range(count)]
    await client.no_notification("roomMessage", wait=0.3)
    return received


@pytest.mark.parametrize("instances", [1, 2])
async def test_concurrent_senders_get_gapless_unique_ids(chat, instances):
    services = [await chat.start() for _ in range(instances)]
    await services[0].add_room(R1)
    clients = []
    for n, user in enumerate(USERS):
        client = await chat.client(services[n % instances], user)
        assert await client.call("roomJoin", R1) == 1
        clients.append(client)

    results = await asyncio.gather(*(send_pipelined(client, R1, PER_SOCKET) for client in clients))

    all_ids = [message_id for per_client in results for message_id in per_client]
    assert sorted(all_ids) == list(range(1, TOTAL + 1))
    for per_client in results:
        # One connection's commands run in order, so its own ids increase.
        assert per_client == sorted(per_client)

    notifications = await asyncio.gather(*(collect_room_messages(client, TOTAL) for client in clients))
    texts = {}
    for received in notifications:
        assert all(room == R1 for room, _ in received)
        ids = [message["id"] for _, message in received]
        assert sorted(ids) == list(range(1, TOTAL + 1))  # every message exactly once
        for _, message in received:
            assert texts.setdefault(message["id"], message) == message
    for client, per_client in zip(clients, results):
        for n, message_id in enumerate(per_client):
            assert texts[message_id]["textMessage"] == f"{client.socket_id} {n}"
            assert texts[message_id]["author"] == USERS[clients.index(client)]

    history = await services[-1].exec_user_command(True, "roomHistoryGet", R1, 0, TOTAL)
    assert [message["id"] for message in history] == list(range(TOTAL, 0, -1))
    assert all(message == texts[message["id"]] for message in history)
    info = await services[0].exec_user_command(True, "roomHistoryInfo", R1)
    assert info["lastMessageId"] == TOTAL and info["historySize"] == TOTAL


def _post(room, n):
    return messaging_store.message_writes().post_message(room, None, {"textMessage": f"m{n}"}, True, 1_700_000_000_000 + n)


def _fill(room, count):
    for n in range(count):
        _post(room, n)


def _measured_post(room):
    with CaptureQueriesContext(connection) as queries:
        message = _post(room, 10_000)
    return [query["sql"] for query in queries.captured_queries], message["id"]


async def test_room_message_query_count_is_constant(chat, svc):
    """roomMessage's store call costs the same number of queries whatever the history size.

    Two regimes, each compared between a room holding 1 and one holding 200
    messages: below capacity (nothing trimmed) and at capacity (the oldest
    message is dropped).
    """
    await svc.add_room(R1)
    await svc.add_room(R2)
    await svc.add_room("tiny", {"historyMaxSize": 1})
    await svc.add_room("full", {"historyMaxSize": 200})
    await sync_to_async(_fill)(R1, 1)
    await sync_to_async(_fill)(R2, 200)
    await sync_to_async(_fill)("tiny", 1)
    await sync_to_async(_fill)("full", 200)

    small, small_id = await sync_to_async(_measured_post)(R1)
    large, large_id = await sync_to_async(_measured_post)(R2)
    small_trim, small_trim_id = await sync_to_async(_measured_post)("tiny")
    large_trim, large_trim_id = await sync_to_async(_measured_post)("full")

    assert (small_id, large_id, small_trim_id, large_trim_id) == (2, 201, 2, 201)
    assert len(small) > 0
    assert len(small) == len(large), (small, large)
    assert len(small_trim) == len(large_trim), (small_trim, large_trim)
    assert len(large_trim) <= len(large) + 1, (large, large_trim)
    for room, size in ((R2, 201), ("tiny", 1), ("full", 200)):
        info = await svc.exec_user_command(True, "roomHistoryInfo", room)
        assert info["historySize"] == size and info["lastMessageId"] == (2 if room == "tiny" else 201)


def _measured_batch(rooms):
    requests = [(room, None, {"textMessage": f"b{n}"}, True, 1_700_000_000_000 + n) for n, room in enumerate(rooms)]
    with CaptureQueriesContext(connection) as queries:
        results = messaging_store.message_writes().post_messages(requests)
    return [query["sql"] for query in queries.captured_queries], [result["id"] for result in results]


async def test_batched_messages_query_count_is_constant(chat, svc):
    """A group commit's batch (messaging/group_commit.py) costs the same number
    of queries whatever the history sizes, and no more per message than one
    message alone, but for the batch's transaction: rooms holding 1 and 200 messages, below and at capacity."""
    for room, options in ((R1, None), (R2, None), ("tiny", {"historyMaxSize": 1}), ("full", {"historyMaxSize": 200})):
        await svc.add_room(room, options)
    await sync_to_async(_fill)(R1, 1)
    await sync_to_async(_fill)(R2, 200)
    await sync_to_async(_fill)("tiny", 1)
    await sync_to_async(_fill)("full", 200)

    small, small_ids = await sync_to_async(_measured_batch)([R1, "tiny", R1, "tiny"])
    large, large_ids = await sync_to_async(_measured_batch)([R2, "full", R2, "full"])
    alone, _ = await sync_to_async(_measured_post)("full")

    assert (small_ids, large_ids) == ([2, 2, 3, 3], [201, 201, 202, 202])
    assert len(small) == len(large), (small, large)
    assert len(large) <= 4 * len(alone) + 2, (large, alone)  # + the batch's BEGIN and COMMIT
    for room, size, last in ((R1, 3, 3), ("tiny", 1, 3), (R2, 202, 202), ("full", 200, 203)):
        info = await svc.exec_user_command(True, "roomHistoryInfo", room)
        assert (info["historySize"], info["lastMessageId"]) == (size, last)


async def test_a_batch_takes_any_text_and_name_as_data(chat, svc):
    """A batch's texts and names reach the database as data whatever their
    characters (PostgreSQL takes a batch as arrays, whose syntax has its own
    quotes, braces, commas, backslashes and NULL); each request gets its own
    answer, in its own place."""
    odd_room = 'a "room", with \\ and \'quotes\''
    odd_user = 'NULL, "user" \\'
    await svc.add_room(odd_room)
    await svc.add_room(R1)
    member = await chat.client(svc, odd_user)
    assert await member.call("roomJoin", odd_room) == 1
    texts = ['{"a","b"}', "it's \\ a \"quote\"", "NULL", ",{}()", "é ☃ 😀", "", "nul \x00 char", "'); DELETE FROM x; --"]
    requests = [
        (odd_room if n % 2 else R1, odd_user if n % 2 else None, {"textMessage": text}, not n % 2, 1_700_000_000_000 + n)
        for n, text in enumerate(texts)
    ]
    refused = [
        (R1, odd_user, {"textMessage": "not joined"}, False, 1),
        ("no such room", None, {"textMessage": "no room"}, True, 2),
        ("bad {name}", None, {"textMessage": "invalid name"}, True, 3),
    ]
    results = await sync_to_async(messaging_store.message_writes().post_messages)(requests[:4] + refused + requests[4:])
    answers = [result if isinstance(result, dict) else result.code for result in results]
    assert answers[4:7] == ["notJoined", "noRoom", "noRoom"]
    stored = answers[:4] + answers[7:]
    assert [message["textMessage"] for message in stored] == texts
    assert [message["id"] for message in stored] == [1, 1, 2, 2, 3, 3, 4, 4]
    for room, offset in ((R1, 0), (odd_room, 1)):
        history = await svc.exec_user_command(True, "roomHistoryGet", room, 0, 10)
        assert [message["textMessage"] for message in reversed(history)] == texts[offset::2]
        assert [message["timestamp"] for message in reversed(history)] == [1_700_000_000_000 + n for n in range(offset, 8, 2)]
