"""roomHistoryGet in one store call (bench/RESULTS.md, What each change bought):
who may read, and a constant number of SQL statements whatever the history
and page sizes."""
import pytest
from asgiref.sync import sync_to_async
from django.db import connection
from django.test.utils import CaptureQueriesContext

from messaging import store as messaging_store
from tests.client import RpcError
from tests.conftest import M, R1, R2, U1, U2, U3


def _fill(room, count):
    for n in range(count):
        messaging_store.message_writes().post_message(room, None, {"textMessage": f"m{n}"}, True, 1_700_000_000_000 + n)


def _measured_page(room, after_id, limit):
    with CaptureQueriesContext(connection) as queries:
        page = messaging_store.history_page(room, None, after_id, limit, True)
    return len(queries.captured_queries), [message["id"] for message in page]


async def test_history_page_statement_count_is_constant(chat, svc):
    await svc.add_room(R1)
    await svc.add_room(R2, {"historyMaxSize": 50})
    await sync_to_async(_fill)(R1, 3)
    await sync_to_async(_fill)(R2, 120)  # the oldest 70 were dropped

    small = await sync_to_async(_measured_page)(R1, 0, 2)
    large = await sync_to_async(_measured_page)(R2, 0, 40)
    trimmed = await sync_to_async(_measured_page)(R2, 100, 40)

    assert small == (3, [2, 1])
    assert large == (3, list(range(110, 70, -1)))
    assert trimmed == (3, list(range(120, 100, -1)))


async def expect_not_joined(client):
    with pytest.raises(RpcError) as info:
        await client.call("roomHistoryGet", R1, 0, 10)
    assert (info.value.code, info.value.args_) == ("notJoined", [R1])


async def test_history_readers(chat, svc):
    """The owner and the adminlist read without joining; anyone else must join."""
    await svc.add_room(R1, {"owner": U1, "adminlist": [U2]})
    owner, admin, other = (await chat.client(svc, U1), await chat.client(svc, U2), await chat.client(svc, U3))
    await expect_not_joined(other)
    assert await other.call("roomJoin", R1) == 1
    assert await other.call("roomMessage", R1, M) == 1
    for client in (owner, admin, other):
        assert [message["id"] for message in await client.call("roomHistoryGet", R1, 0, 10)] == [1]
    assert await other.call("roomLeave", R1) == 0
    await expect_not_joined(other)
    assert await svc.exec_user_command(True, "roomHistoryGet", R1, 0, 10) != []
    with pytest.raises(RpcError) as info:
        await owner.call("roomHistoryGet", "no such room", 0, 10)
    assert info.value.code == "noRoom"


TRICKY_TEXTS = ['],[{"textMessage":"x"}', "a,b", "\u0000", "\"quoted\" \\ back", "😀 \ud7ff", "", "[]"]


async def test_pages_parse_stored_texts_exactly(chat, svc):
    """A page is parsed as one joined array: texts full of JSON punctuation
    come back exactly as sent, in both history reads."""
    await svc.add_room(R1)
    client = await chat.client(svc, U1)
    await client.call("roomJoin", R1)
    for text in TRICKY_TEXTS:
        await client.call("roomMessage", R1, {"textMessage": text})
    expected = list(reversed(TRICKY_TEXTS))
    page = await client.call("roomHistoryGet", R1, 0, 100)
    assert [message["textMessage"] for message in page] == expected
    assert [message["textMessage"] for message in await client.call("roomRecentHistory", R1)] == expected
    assert await client.call("roomHistoryGet", R1, len(TRICKY_TEXTS), 10) == []
