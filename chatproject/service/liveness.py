"""This instance's heartbeat, and how it learns that others declared it dead.

The heartbeat is written from a thread of its own, so that it keeps its rate
while the event loop is busy: a heartbeat that waits for a starved loop is
what makes a live process look dead to the others. It is written only while
the loop still runs (its lag probe came back within `heartbeatTimeout`): a
stuck loop stops the heartbeat and lets the others recover this instance.

When a heartbeat finds the instance's record gone or claimed by a recovering
instance, the service is told (`ChatService.declared_dead`). Commands check
the heartbeat's age too: after a pause past the timeout (SIGSTOP, a starved
process), the first command confirms the instance is still registered before
it runs, instead of failing on records the others deleted
(docs/protocol.md, Limits).
"""
import asyncio
import logging
import time

from chatproject import metrics
from chatproject.common.clock import now_ms
from chatproject.common.hops import database_hop
from presence import store as presence_store

from .periodic import PeriodicThread

logger = logging.getLogger("chat")


class Liveness:
    def __init__(self, service):
        self.service = service
        options = service.options
        self.rate = options.heartbeat_rate / 1000
        self.timeout = options.heartbeat_timeout / 1000
        # Past this age of the last heartbeat, others may soon declare us dead.
        self.suspect_after = max(self.timeout / 2, self.rate * 1.5)
        self.lag_interval = min(0.5, self.rate / 2)
        self.loop_lag = 0.0
        self.last_beat = None  # time.monotonic() of the last successful heartbeat
        self.last_beat_ms = None  # its wall-clock time
        self._loop = None
        self._loop_seen = 0.0
        self._beats = PeriodicThread(
            "chat-heartbeat", self.rate, self._beat_once,
            lambda: f"heartbeat of instance {self.service.instance_uid}",
        )
        self._lag_task = None
        self._check = None  # the running confirmation, shared by waiting commands

    @property
    def running(self):
        return self._beats.running

    def start(self):
        """Start beating; the instance's record was written just now."""
        self._loop = asyncio.get_running_loop()
        self.last_beat = self._loop_seen = time.monotonic()
        self.last_beat_ms = now_ms()
        self._lag_task = asyncio.ensure_future(self._measure_lag())
        self._beats.start()

    def stop(self):
        """Stop at once (the thread ends after its current write)."""
        self._beats.stop()
        if self._lag_task is not None:
            self._lag_task.cancel()
            self._lag_task = None

    def renewed(self):
        self.last_beat = time.monotonic()
        self.last_beat_ms = now_ms()

    # The event loop's lag.

    async def _measure_lag(self):
        while True:
            started = time.monotonic()
            await asyncio.sleep(self.lag_interval)
            self._loop_seen = time.monotonic()
            self.loop_lag = max(0.0, self._loop_seen - started - self.lag_interval)
            metrics.set_loop_lag(self.loop_lag)

    # The heartbeat thread.

    def _beat_once(self, stop):
        if time.monotonic() - self._loop_seen > self.timeout:
            return  # the loop is stuck: let the others see this instance die
        uid = self.service.instance_uid
        alive = presence_store.touch_heartbeat(uid, now_ms())
        if stop.is_set() or uid != self.service.instance_uid:
            return
        if alive:
            self.renewed()
        else:
            self._loop.call_soon_threadsafe(self.service.declared_dead)

    # Commands.

    def suspect(self):
        """True when the last heartbeat is old enough for others to act on it."""
        return self.running and time.monotonic() - self.last_beat > self.suspect_after

    async def confirm(self):
        """Renew the heartbeat now; False when this instance was declared dead."""
        if self._check is None or self._check.done():
            self._check = asyncio.ensure_future(self._confirm_once())
        return await asyncio.shield(self._check)

    async def _confirm_once(self):
        alive = await database_hop(presence_store.touch_heartbeat)(self.service.instance_uid, now_ms())
        if alive:
            self.renewed()
        return alive
