"""Group commit for roomMessage: messages posted while a write is in flight
are written together, in one database hop and one transaction.

Under load every socket has a message waiting for the database; one hop and
one commit for all of them costs a fraction of one each (bench/RESULTS.md).
A message that finds the database idle is written at once, alone, exactly
as without batching.
"""
import asyncio
import collections
import contextvars

from chatproject.common.hops import synchronous_caller


class GroupCommit:
    """Runs `write_one(*args)` when no write is in flight; otherwise queues
    the call for the next `write_many([args, ...])`, at most `limit` calls,
    which answers each call with its result or its own exception."""

    def __init__(self, write_one, write_many, limit):
        self._write_one = write_one
        self._write_many = write_many
        self._limit = limit
        self._queue = collections.deque()
        self._writing = False
        self._drainer = None
        self.batches = 0  # write_many hops so far: makes the batching observable to tests

    async def submit(self, *args):
        if synchronous_caller.get():
            return await self._write_one(*args)
        if self._writing:
            future = asyncio.get_running_loop().create_future()
            self._queue.append((args, future))
            return await future
        self._writing = True
        try:
            return await self._write_one(*args)
        finally:
            if self._queue:
                # A fresh context: the drainer's hops belong to no caller.
                self._drainer = asyncio.get_running_loop().create_task(self._drain(), context=contextvars.Context())
            else:
                self._writing = False

    async def _drain(self):
        try:
            while self._queue:
                batch = []
                while self._queue and len(batch) < self._limit:
                    args, future = self._queue.popleft()
                    if not future.done():  # a caller cancelled before its write is not written
                        batch.append((args, future))
                if batch:
                    await self._write_batch(batch)
        finally:
            self._writing = False
            self._drainer = None
            while self._queue:
                self._queue.popleft()[1].cancel()

    async def _write_batch(self, batch):
        self.batches += 1
        try:
            results = await self._write_many([args for args, _ in batch])
        except asyncio.CancelledError:
            for _, future in batch:
                future.cancel()
            raise
        except Exception as error:  # the hop itself failed: every caller of the batch gets the error
            results = [error] * len(batch)
        for (_, future), result in zip(batch, results):
            if future.done():
                continue
            if isinstance(result, Exception):
                future.set_exception(result)
            else:
                future.set_result(result)
