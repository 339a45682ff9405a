"""Database work repeated at a steady pace from a thread of its own, off the
event loop: the instance's heartbeat (liveness.py) and SQLite's WAL
checkpoints (checkpoints.py)."""
import logging
import threading

from django.db import connections

logger = logging.getLogger("chat")


class PeriodicThread:
    """Runs `work(stop)` every `interval` seconds in a daemon thread with its
    own database connection, closed when the thread ends. `stop` is that
    thread's own event, set once it should end, so a thread stopped just
    before a restart never runs on beside the new one. A failure is logged
    once, with `describe()`, until the work succeeds again."""

    def __init__(self, name, interval, work, describe):
        self.name = name
        self.interval = interval
        self._work = work
        self._describe = describe
        self._stop = None
        self._thread = None

    @property
    def running(self):
        return self._thread is not None

    def start(self):
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(self._stop,), name=self.name, daemon=True)
        self._thread.start()

    def stop(self):
        """Stop at once (the thread ends after its current work)."""
        if self._stop is not None:
            self._stop.set()
        self._thread = None

    def _run(self, stop):
        failing = False
        try:
            while not stop.wait(self.interval):
                try:
                    self._work(stop)
                except Exception as exc:
                    if not failing:
                        logger.error("%s failed: %s", self._describe(), exc)
                        failing = True
                    continue
                if failing:
                    logger.info("%s works again", self._describe())
                    failing = False
        finally:
            connections.close_all()  # this thread's own database connection
