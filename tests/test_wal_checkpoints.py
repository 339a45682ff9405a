"""SQLite's WAL checkpoints run in a thread of the running service
(chatproject/service/checkpoints.py), not inside the commit that grew the
log, which is where SQLite runs them by default; other databases have no
such thread."""
from asgiref.sync import sync_to_async
from django.db import connections

from chatproject.service import checkpoints
from tests.conftest import R1, eventually


def sqlite():
    return connections["default"].vendor == "sqlite"


async def test_the_service_checkpoints_every_page_its_writes_logged(chat, monkeypatch):
    monkeypatch.setattr(checkpoints, "INTERVAL", 0.02)
    svc = await chat.start()
    await svc.add_room(R1)
    if not sqlite():
        assert not svc.checkpointer.running
        return

    async def all_copied():
        result = svc.checkpointer.last_result
        return result is not None and result[0] > 0 and result[1] == result[0]

    await eventually(all_copied)


async def test_the_thread_ends_when_the_service_closes(chat, monkeypatch):
    monkeypatch.setattr(checkpoints, "INTERVAL", 0.02)
    svc = await chat.start()
    thread = svc.checkpointer._thread
    assert svc.checkpointer.running == sqlite()
    await svc.close()
    assert not svc.checkpointer.running
    if thread is not None:
        thread.join(5)
        assert not thread.is_alive()


async def test_a_commit_checkpoints_only_past_ten_thousand_pages(chat_db):
    """The fallback when the thread falls behind or no service runs; SQLite's
    default of 1,000 pages made every 60th to 100th message wait for the disk."""
    if not sqlite():
        return

    def threshold():
        with connections["default"].cursor() as cursor:
            cursor.execute("PRAGMA wal_autocheckpoint")
            return cursor.fetchone()

    assert await sync_to_async(threshold)() == (10000,)
