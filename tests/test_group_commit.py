"""roomMessage's group commit (messaging/group_commit.py): the messages posted
while a write is in flight are written in one database hop and transaction,
each answered on its own. Checklist B41, B42 (stored, delivered to every
joined socket) under batching.

Deterministic: the first write is held before its hop until the others are
queued behind it, so the queued ones make exactly one batch."""
import asyncio
import threading
from types import SimpleNamespace

import pytest
from asgiref.sync import sync_to_async
from django.db import OperationalError, connections

from messaging import store as messaging_store
from tests.client import RpcError
from tests.conftest import R1, R2, eventually
from tests.test_rest_api import make_user, token_client, use_service  # noqa: F401 (use_service: a fixture)

ROOMS = [R1, R2, "room3"]
MEMBERS = 3  # sockets per room


@pytest.fixture
def held(svc, monkeypatch):
    """Holds the first write made alone until `release` is set."""
    return hold_first_write(svc, monkeypatch)


def hold_first_write(service, monkeypatch):
    writes = service.messaging.writes
    release = asyncio.Event()
    write_one = writes._write_one
    calls = []

    async def held_write(*args):
        calls.append(args)
        if len(calls) == 1:
            await release.wait()
        return await write_one(*args)

    monkeypatch.setattr(writes, "_write_one", held_write)
    return release


async def queued(svc, count):
    async def enough():
        return len(svc.messaging.writes._queue) == count

    await eventually(enough)


async def post(client, room, text):
    """roomMessage's id, or its error code."""
    try:
        return await client.call("roomMessage", room, {"textMessage": text})
    except RpcError as error:
        return error.code


async def room_with_members(chat, svc, room, count):
    await svc.add_room(room)
    members = []
    for n in range(count):
        client = await chat.client(svc, f"{room}-user{n}")
        assert await client.call("roomJoin", room) == 1
        members.append(client)
    return members


async def test_b42_concurrent_posters_in_several_rooms_share_one_batch(chat, svc, held):
    rooms = {room: await room_with_members(chat, svc, room, MEMBERS) for room in ROOMS}
    first = asyncio.create_task(post(rooms[R1][0], R1, "first"))
    await eventually(lambda: asyncio.sleep(0, svc.messaging.writes._writing))
    others = [
        asyncio.create_task(post(client, room, f"{room} {n}"))
        for room, members in rooms.items()
        for n, client in enumerate(members)
        if client is not rooms[R1][0]
    ]
    await queued(svc, len(others))
    held.set()
    answers = [await first] + [await task for task in others]
    assert svc.messaging.writes.batches == 1
    ids = {room: [] for room in ROOMS}
    texts = ["first"] + [f"{room} {n}" for room, members in rooms.items() for n in range(len(members)) if (room, n) != (R1, 0)]
    for text, answer in zip(texts, answers):
        ids[text.split()[0] if text != "first" else R1].append(answer)
    for room, members in rooms.items():
        assert sorted(ids[room]) == list(range(1, MEMBERS + 1))  # gap-free, in queue order
        assert ids[room] == sorted(ids[room])
        for client in members:
            received = [await client.notification("roomMessage") for _ in range(MEMBERS)]
            assert sorted(message["id"] for _, message in received) == ids[room]
            await client.no_notification("roomMessage", wait=0.1)
        history = await svc.exec_user_command(True, "roomHistoryGet", room, 0, 10)
        assert [message["id"] for message in history] == sorted(ids[room], reverse=True)


async def test_refused_messages_in_a_batch_get_their_errors(chat, svc, held):
    member, other = await room_with_members(chat, svc, R1, 2)
    outsider = await chat.client(svc, "outsider")
    first = asyncio.create_task(post(member, R1, "first"))
    await eventually(lambda: asyncio.sleep(0, svc.messaging.writes._writing))
    batch = [
        asyncio.create_task(post(other, R1, "stored")),
        asyncio.create_task(post(outsider, R1, "not joined")),
        asyncio.create_task(post(await chat.client(svc, "nobody"), "no such room", "no room")),
    ]
    await queued(svc, len(batch))
    held.set()
    assert await first == 1
    assert [await task for task in batch] == [2, "notJoined", "noRoom"]
    assert svc.messaging.writes.batches == 1
    assert await member.call("roomMessage", R1, {"textMessage": "after"}) == 3
    for client in (member, other):
        received = [(await client.notification("roomMessage"))[1]["textMessage"] for _ in range(3)]
        assert received == ["first", "stored", "after"]
    history = await svc.exec_user_command(True, "roomHistoryGet", R1, 0, 10)
    assert [message["textMessage"] for message in history] == ["after", "stored", "first"]


@pytest.mark.parametrize("persistent", [False, True])
async def test_database_error_in_a_batch_reaches_only_its_message(chat, svc, held, monkeypatch, persistent):
    """The batch is rolled back and redone message by message: a transient
    error costs nothing, a persistent one fails only its own message; no
    acknowledged message is lost and the ids stay gap-free."""
    members = await room_with_members(chat, svc, R1, 4)
    without_numbering = messaging_store._without_numbering  # each message's first step in a batch and alone
    failures = []

    def failing_without_numbering(message):
        if message["textMessage"] == "boom" and (persistent or not failures):
            failures.append(message)
            raise OperationalError("injected")
        return without_numbering(message)

    monkeypatch.setattr(messaging_store, "_without_numbering", failing_without_numbering)
    first = asyncio.create_task(post(members[0], R1, "first"))
    await eventually(lambda: asyncio.sleep(0, svc.messaging.writes._writing))
    batch = [asyncio.create_task(post(client, R1, text)) for client, text in zip(members[1:], ["a", "boom", "b"])]
    await queued(svc, len(batch))
    held.set()
    answers = [await first] + [await task for task in batch]
    assert svc.messaging.writes.batches == 1
    if persistent:
        assert answers == [1, 2, "internalError", 3]
        assert len(failures) == 2  # in the batch, then alone
        stored = ["first", "a", "b"]
    else:
        assert answers == [1, 2, 3, 4]
        stored = ["first", "a", "boom", "b"]
    for client in members:
        received = [(await client.notification("roomMessage"))[1] for _ in stored]
        assert [message["textMessage"] for message in received] == stored
        assert [message["id"] for message in received] == list(range(1, len(stored) + 1))
    history = await svc.exec_user_command(True, "roomHistoryGet", R1, 0, 10)
    assert [message["textMessage"] for message in reversed(history)] == stored



async def test_failed_refusal_lookup_in_a_batch_reaches_only_its_message(chat, svc, held, monkeypatch):
    """A refused message's reason is looked up after the batch's statements;
    on PostgreSQL the batch is one statement, already stored by then. A
    database error in that lookup fails only the refused message: the
    others are answered once, stored once, ids gap-free."""
    member, other, another = await room_with_members(chat, svc, R1, 3)
    outsider = await chat.client(svc, "outsider")

    def failing_refuse(cursor, room_name):
        raise OperationalError("injected")

    monkeypatch.setattr(messaging_store, "_refuse", failing_refuse)
    first = await write_in_flight(svc, member)
    batch = [
        asyncio.create_task(post(other, R1, "a")),
        asyncio.create_task(post(outsider, R1, "not joined")),
        asyncio.create_task(post(another, R1, "b")),
    ]
    await queued(svc, len(batch))
    held.set()
    assert [await first] + [await task for task in batch] == [1, 2, "internalError", 3]
    assert svc.messaging.writes.batches == 1
    for client in (member, other, another):
        received = [(await client.notification("roomMessage"))[1] for _ in range(3)]
        assert [(message["id"], message["textMessage"]) for message in received] == [(1, "first"), (2, "a"), (3, "b")]
        await client.no_notification("roomMessage", wait=0.1)
    history = await svc.exec_user_command(True, "roomHistoryGet", R1, 0, 10)
    assert [(message["id"], message["textMessage"]) for message in history] == [(3, "b"), (2, "a"), (1, "first")]

async def write_in_flight(svc, client):
    """A roomMessage of `client` to R1 whose write is held (`held`)."""
    first = asyncio.create_task(post(client, R1, "first"))
    await eventually(lambda: asyncio.sleep(0, svc.messaging.writes._writing))
    return first


async def test_synchronous_callers_are_not_batched(chat, svc, held):
    """A synchronous caller's hop runs in its own thread (which may hold a
    transaction): its message is written there, alone, even while a write is
    in flight."""
    (member,) = await room_with_members(chat, svc, R1, 1)
    first = await write_in_flight(svc, member)

    def sync_post():
        try:
            return svc.sync.exec_user_command(True, "roomMessage", R1, {"textMessage": "sync"})
        finally:
            connections.close_all()  # the connection the call opened in this thread

    assert await sync_to_async(sync_post, thread_sensitive=False)() == 1
    assert not svc.messaging.writes._queue
    held.set()
    assert await first == 2
    assert svc.messaging.writes.batches == 0


async def test_rest_messages_are_not_batched(chat, svc, held, use_service):
    """The REST view runs in the shared database thread (the test client's
    `sync_to_async`): a batched write there would wait for that same thread."""
    use_service(svc)
    (member,) = await room_with_members(chat, svc, R1, 1)
    _, key = await sync_to_async(make_user)("admin")
    first = await write_in_flight(svc, member)
    response = await token_client(key).post(f"/api/rooms/{R1}/messages/", {"message": {"textMessage": "rest"}})
    assert (response.status_code, response.json()) == (201, {"id": 1})
    assert not svc.messaging.writes._queue
    held.set()
    assert await first == 2
    assert svc.messaging.writes.batches == 0


async def test_plain_hooks_messages_are_not_batched(chat, monkeypatch):
    """A plain hook runs in the shared database thread and posts through
    `server.sync`: its message is written there, alone, while a write is in
    flight, and the caller's later messages are batched again."""
    armed, posted = [], []

    def on_join(server, data):
        if armed:
            posted.append(server.sync.exec_user_command(True, "roomMessage", R1, {"textMessage": "hook"}))

    service = await chat.start(hooks=SimpleNamespace(on_join=on_join))
    release = hold_first_write(service, monkeypatch)
    (member,) = await room_with_members(chat, service, R1, 1)
    first = await write_in_flight(service, member)
    late = await chat.client(service, "late")
    armed.append(True)
    assert await late.call("roomJoin", R1) == 1
    assert posted == [1]
    assert not service.messaging.writes._queue
    queued_post = asyncio.create_task(post(late, R1, "batched"))
    await queued(service, 1)
    release.set()
    assert (await first, await queued_post) == (2, 3)
    assert service.messaging.writes.batches == 1


async def test_a_batch_locks_its_rooms_in_name_order(chat, svc, held, monkeypatch):
    """Two processes' batches must lock the rooms' id counters in one order,
    or they deadlock (PostgreSQL then aborts one after a second); answers
    still go to their own callers, and a room's messages keep their order."""
    rooms = {room: await room_with_members(chat, svc, room, 2) for room in ("zeta", "alpha", "mid")}
    stored = []
    writes = type(messaging_store.message_writes())
    store_all, store_one = writes.store_all, writes.store
    in_batch = threading.Event()  # SQLite's batch stores its messages one by one: recorded once, as the batch

    def recording_store_all(self, cursor, requests):
        stored.extend(request[0] for request in requests)
        in_batch.set()
        try:
            return store_all(self, cursor, requests)
        finally:
            in_batch.clear()

    def recording_store_one(self, cursor, room_name, *args):
        if not in_batch.is_set():
            stored.append(room_name)
        return store_one(self, cursor, room_name, *args)

    monkeypatch.setattr(writes, "store_all", recording_store_all)
    monkeypatch.setattr(writes, "store", recording_store_one)
    first = asyncio.create_task(post(rooms["mid"][0], "mid", "first"))
    await eventually(lambda: asyncio.sleep(0, svc.messaging.writes._writing))
    senders = [("zeta", 0), ("alpha", 0), ("zeta", 1), ("mid", 1), ("alpha", 1)]
    batch = []
    for room, n in senders:  # one at a time, so the queue holds them in this order
        batch.append(asyncio.create_task(post(rooms[room][n], room, f"{room} {n}")))
        await queued(svc, len(batch))
    held.set()
    assert await first == 1
    assert [await task for task in batch] == [1, 1, 2, 2, 2]
    assert svc.messaging.writes.batches == 1
    assert stored == ["mid"] + ["alpha", "alpha", "mid", "zeta", "zeta"]  # the held write alone, then the batch
    history = await svc.exec_user_command(True, "roomHistoryGet", "zeta", 0, 10)
    assert [message["textMessage"] for message in history] == ["zeta 1", "zeta 0"]


async def test_writes_run_in_the_shared_database_thread(chat, svc, monkeypatch):
    """The service's writes hop to the thread of every other database call
    (asgiref's shared one), so that SQLite sees one writer; a synchronous
    caller's write runs in the calling thread."""
    threads = []
    writes = type(messaging_store.message_writes())
    store = writes.store

    def recording_store(self, cursor, *args):
        threads.append(threading.get_ident())
        return store(self, cursor, *args)

    monkeypatch.setattr(writes, "store", recording_store)
    (member,) = await room_with_members(chat, svc, R1, 1)
    assert await post(member, R1, "async") == 1

    def sync_post():
        try:
            return threading.get_ident(), svc.sync.exec_user_command(True, "roomMessage", R1, {"textMessage": "sync"})
        finally:
            connections.close_all()  # the connection the call opened in this thread

    caller, answer = await sync_to_async(sync_post, thread_sensitive=False)()
    assert answer == 2
    assert threads == [await sync_to_async(threading.get_ident)(), caller]
