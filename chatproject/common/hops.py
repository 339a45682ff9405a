"""The database hop: how the service's asynchronous code runs its database
work, leaner than Channels' `database_sync_to_async`.

`database_sync_to_async` works out per call which thread to use (asgiref's
`Local` lookups), copies and restores the caller's context, and closes
obsolete connections before and after; `run_in_executor` adds a
`concurrent.futures.Future` (a `Condition`, done callbacks) chained to an
asyncio future. The service's asynchronous callers always hop to the same
place, asgiref's shared database thread, so their hops queue here and one
job of that thread's executor runs all that are waiting, each handing its
outcome straight to the caller's loop. Synchronous callers keep the full
hop, which runs in their own thread.
"""
import asyncio
import collections
import contextvars
import functools
import threading

from asgiref.sync import SyncToAsync
from channels.db import database_sync_to_async
from django.db import close_old_connections

TURN_LIMIT = 64
"""Hops run in one turn of the shared database thread: then the thread's other
work (plain hooks, `sync_to_async` calls) that queued meanwhile gets its turn."""

synchronous_caller = contextvars.ContextVar("synchronous_caller", default=False)
"""True inside a call through the service's synchronous API (`ChatService.sync`):
its database hops run in the calling thread, which may hold a transaction,
so other callers' messages must not be written there, and that thread must
not wait for the shared database thread (which may be the calling thread
itself, in a plain hook; SQLite has a single writer either way). Such a
caller's writes are never batched."""


def run_hop(function, args, kwargs):
    """A hop's work, in the shared database thread: an obsolete or broken
    connection is replaced once, before it."""
    close_old_connections()
    return function(*args, **kwargs)


class _Queue:
    """The hops waiting for the shared database thread, run in turns there:
    a turn is one job of asgiref's `single_thread_executor`, started by the
    hop that finds no turn under way. Running in asgiref's thread (not one
    of its own) keeps all database work of the event loop's code in one
    thread with one connection, as `database_sync_to_async` does: SQLite
    has a single writer, and work queued through `sync_to_async` (which a
    test uses to hold the thread) still runs between the hops, in order."""

    def __init__(self):
        self._lock = threading.Lock()
        self._waiting = collections.deque()
        self._turn_under_way = False

    def run(self, function, args, kwargs):
        """An asyncio future of `function(*args, **kwargs)` run in the database thread."""
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        with self._lock:
            self._waiting.append((loop, future, function, args, kwargs))
            start = not self._turn_under_way
            self._turn_under_way = True
        if start:
            SyncToAsync.single_thread_executor.submit(self._turn)
        return future

    def _turn(self):
        for _ in range(TURN_LIMIT):
            with self._lock:
                if not self._waiting:
                    self._turn_under_way = False
                    return
                loop, future, function, args, kwargs = self._waiting.popleft()
            if not future.cancelled():  # a caller cancelled before its hop began: not run
                _answer(loop, future, function, args, kwargs)
        SyncToAsync.single_thread_executor.submit(self._turn)  # hops still wait: after the work queued meanwhile


def _answer(loop, future, function, args, kwargs):
    """In the database thread: run one hop and hand its outcome to the caller's loop."""
    try:
        outcome = (future.set_result, run_hop(function, args, kwargs))
    except BaseException as error:  # as concurrent.futures: the caller gets whatever the work raised
        outcome = (future.set_exception, error)
    try:
        loop.call_soon_threadsafe(_settle, future, *outcome)
    except RuntimeError:  # the caller's loop closed meanwhile: nobody waits for the outcome
        pass


def _settle(future, setter, value):
    """On the caller's loop: the hop's outcome, unless the caller stopped waiting."""
    if not future.cancelled():
        setter(value)


_queue = _Queue()


def database_hop(function):
    """`function` (or method) as a coroutine function that runs it in the
    database thread: the shared one for asynchronous callers, the caller's
    own for synchronous ones (`synchronous_caller`)."""
    full_hop = database_sync_to_async(function)

    @functools.wraps(function)
    async def hop(*args, **kwargs):
        if synchronous_caller.get():
            return await full_hop(*args, **kwargs)
        return await _queue.run(function, args, kwargs)

    return hop
