"""The database hop: how the service's asynchronous code runs its database
work, leaner than Channels' `database_sync_to_async`.

`database_sync_to_async` works out per call which thread to use (asgiref's
`Local` lookups), copies and restores the caller's context, and closes
obsolete connections before and after: 65 against 45 µs of CPU per hop in
a loop of hops, the thread switch included. The service's asynchronous
callers always hop to the same place, asgiref's shared database thread;
synchronous callers keep the full hop, which runs in their own thread.
"""
import asyncio
import contextvars
import functools

from asgiref.sync import SyncToAsync
from channels.db import database_sync_to_async
from django.db import close_old_connections

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


def database_hop(function):
    """`function` (or method) as a coroutine function that runs it in the
    database thread: the shared one for asynchronous callers, the caller's
    own for synchronous ones (`synchronous_caller`)."""
    full_hop = database_sync_to_async(function)

    @functools.wraps(function)
    async def hop(*args, **kwargs):
        if synchronous_caller.get():
            return await full_hop(*args, **kwargs)
        return await asyncio.get_running_loop().run_in_executor(
            SyncToAsync.single_thread_executor, run_hop, function, args, kwargs
        )

    return hop
