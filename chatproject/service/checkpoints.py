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
from django.db import connections

from .periodic import PeriodicThread

INTERVAL = 0.1  # seconds between checkpoints; at most a few hundred pages each in the light load


class WalCheckpointer(PeriodicThread):
    def __init__(self):
        super().__init__("chat-wal-checkpoint", INTERVAL, self._checkpoint, lambda: "WAL checkpoint")
        self.last_result = None  # (pages in the log, pages copied) of the latest checkpoint: observable to tests

    def start(self):
        """Start checkpointing when the database is SQLite; nothing to do otherwise."""
        if connections["default"].vendor == "sqlite":
            super().start()

    def _checkpoint(self, stop):
        with connections["default"].cursor() as cursor:
            cursor.execute("PRAGMA wal_checkpoint(PASSIVE)")
            _busy, log_pages, copied = cursor.fetchone()
        self.last_result = (log_pages, copied)
