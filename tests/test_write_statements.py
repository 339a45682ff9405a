"""roomMessage's statements run on the database driver's cursor, without
Django's cursor (messaging/store.py: `_sqlite_execute`, `_postgresql_execute`),
yet as Django's cursor runs them: in the caller's transaction, and with a
broken connection failing as Django's error, so that the next hop replaces
the connection."""
import pytest
from asgiref.sync import sync_to_async
from django.db import DatabaseError, connection, transaction

from messaging import store as messaging_store
from tests.conftest import R1


def _post(text):
    return messaging_store.message_writes().post_message(R1, None, {"textMessage": text}, True, 1_700_000_000_000)


def _post_then_roll_back():
    with transaction.atomic():
        message = _post("rolled back")
        transaction.set_rollback(True)
    return message["id"]


async def test_a_callers_transaction_holds_the_write(chat, svc):
    """A synchronous caller may hold a transaction: the write is part of it."""
    await svc.add_room(R1)
    assert await sync_to_async(_post_then_roll_back)() == 1
    assert await svc.exec_user_command(True, "roomHistoryGet", R1, 0, 10) == []
    assert await svc.exec_user_command(True, "roomMessage", R1, {"textMessage": "kept"}) == 1
    info = await svc.exec_user_command(True, "roomHistoryInfo", R1)
    assert (info["historySize"], info["lastMessageId"]) == (1, 1)


def _break_connection_then_post():
    connection.ensure_connection()
    connection.connection.close()  # as a database restart leaves it
    with pytest.raises(DatabaseError) as raised:  # Django's class, not the driver's
        _post("lost")
    return raised.value


async def test_a_broken_connection_fails_as_djangos_error_and_is_replaced(chat, svc):
    if connection.vendor != "postgresql":
        pytest.skip("SQLite has no connection to lose")
    await svc.add_room(R1)
    error = await sync_to_async(_break_connection_then_post)()
    assert type(error).__module__ == "django.db.utils"
    assert await svc.exec_user_command(True, "roomMessage", R1, {"textMessage": "after"}) == 1
    history = await svc.exec_user_command(True, "roomHistoryGet", R1, 0, 10)
    assert [message["textMessage"] for message in history] == ["after"]
