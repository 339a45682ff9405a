"""SQLite's WAL checkpoints, from a thread of their own.

SQLite copies the write-ahead log back into the database file (a
checkpoint) in the connection whose commit grew the log past
`wal_autocheckpoint` pages, inside that commit: with `synchronous=NORMAL`
three fsyncs of the log and the database, milliseconds on a real disk. The
service's writes all run in one database thread, so every message behind
that commit waited for the disk (in the light load, one message in 60 to
100: bench/RESULTS.md). Here a thread with its own connection checkpoints
every `INTERVAL` seconds (PASSIVE: writers go on meanwhile). The writer
starts the log over at its first write after a checkpoint that ended
between two writes (syncing the new header: one small fsync); under a
steady stream of writes that is rarer, so the commit's own threshold is
raised (settings.py) and stays as the fallback, also for processes that run
no service. Measured at the light load's pace (a write every 1.3 ms): the
log held a median 3,800 pages, at most about 9,800.
"""
import logging
import threading

from django.db import connections

logger = logging.getLogger("chat")

INTERVAL = 0.1  # seconds between checkpoints; at most a few hundred pages each in the light load


class WalCheckpointer:
    def __init__(self):
        self.last_result = None  # (pages in the log, pages copied) of the latest checkpoint: observable to tests
        self._stop = threading.Event()
        self._thread = None

    @property
    def running(self):
        return self._thread is not None

    def start(self):
        """Start checkpointing when the database is SQLite; nothing to do otherwise."""
        if connections["default"].vendor != "sqlite":
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._checkpoint_forever, name="chat-wal-checkpoint", daemon=True)
        self._thread.start()

    def stop(self):
        """Stop at once (the thread ends after its current checkpoint)."""
        self._stop.set()
        self._thread = None

    def _checkpoint_forever(self):
        failing = False
        try:
            while not self._stop.wait(INTERVAL):
                try:
                    with connections["default"].cursor() as cursor:
                        cursor.execute("PRAGMA wal_checkpoint(PASSIVE)")
                        _busy, log_pages, copied = cursor.fetchone()
                except Exception as exc:
                    if not failing:
                        logger.error("WAL checkpoint failed: %s", exc)
                        failing = True
                    continue
                failing = False
                self.last_result = (log_pages, copied)
        finally:
            connections.close_all()  # this thread's own database connection
