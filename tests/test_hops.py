"""The database hop of the service's asynchronous code (chatproject/common/hops.py,
docs/architecture.md): asgiref's database thread, each caller's own outcome,
cancellation, turns shared with the thread's other work, a caller's loop
that closes while its hop runs."""
import asyncio
import threading

import pytest
from asgiref.sync import sync_to_async

from chatproject.common import hops
from chatproject.common.hops import database_hop


@database_hop
def _thread_of_hop():
    return threading.get_ident()


@database_hop
def _echo(*args, **kwargs):
    return args, kwargs


@database_hop
def _fail(message):
    raise ValueError(message)


@database_hop
def _record(seen, value):
    seen.append(value)
    return value


@database_hop
def _wait(started, release):
    started.set()
    release.wait(10)


def _wait_in_thread(event):
    return asyncio.get_running_loop().run_in_executor(None, event.wait, 10)


class Hold:
    """Occupies the shared database thread (as `sync_to_async` work does) until released."""

    async def __aenter__(self):
        self.busy, self.release = threading.Event(), threading.Event()

        def occupy():
            self.busy.set()
            self.release.wait(10)

        self.blocker = asyncio.ensure_future(sync_to_async(occupy, thread_sensitive=True)())
        assert await _wait_in_thread(self.busy)
        return self

    async def __aexit__(self, *exc):
        self.release.set()
        await self.blocker


async def test_hops_run_in_asgiref_database_thread():
    database_thread = await sync_to_async(threading.get_ident, thread_sensitive=True)()
    assert await _thread_of_hop() == database_thread != threading.get_ident()


async def test_each_caller_gets_its_own_result_or_error():
    assert await _echo(1, "two", three=3) == ((1, "two"), {"three": 3})
    results = await asyncio.gather(_echo(1), _fail("boom"), _echo(2), return_exceptions=True)
    assert results[0] == ((1,), {}) and results[2] == ((2,), {})
    assert isinstance(results[1], ValueError) and str(results[1]) == "boom"


async def test_a_hop_cancelled_before_its_turn_is_not_run():
    seen = []
    async with Hold():
        cancelled = asyncio.ensure_future(_record(seen, "cancelled"))
        kept = asyncio.ensure_future(_record(seen, "kept"))
        await asyncio.sleep(0)  # both are queued
        cancelled.cancel()
    assert await kept == "kept"
    assert seen == ["kept"]
    assert cancelled.cancelled()


async def test_a_hop_cancelled_while_it_runs_finishes_quietly():
    errors = []
    asyncio.get_running_loop().set_exception_handler(lambda loop, context: errors.append(context))
    started, release = threading.Event(), threading.Event()
    running = asyncio.ensure_future(_wait(started, release))
    assert await _wait_in_thread(started)
    running.cancel()
    release.set()
    with pytest.raises(asyncio.CancelledError):
        await running
    assert await _echo("after") == (("after",), {})
    assert errors == []


async def test_the_threads_other_work_gets_a_turn_between_many_hops():
    """Hops queued while the thread is busy run in turns of TURN_LIMIT: work
    queued through `sync_to_async` after them waits for one turn at most."""
    seen = []
    count = 2 * hops.TURN_LIMIT + 1
    async with Hold():
        queued = [asyncio.ensure_future(_record(seen, n)) for n in range(count)]
        await asyncio.sleep(0)  # the hops are queued, and their turn too
        other = asyncio.ensure_future(sync_to_async(seen.append, thread_sensitive=True)("other"))
        await asyncio.sleep(0)
    assert await asyncio.gather(*queued) == list(range(count))
    await other
    assert seen.index("other") == hops.TURN_LIMIT
    assert [n for n in seen if n != "other"] == list(range(count))


async def test_hops_go_on_after_a_callers_loop_closed_during_its_hop():
    started, release = threading.Event(), threading.Event()

    def caller_with_its_own_loop():
        async def main():
            await asyncio.wait_for(_wait(started, release), 0.01)

        with pytest.raises(asyncio.TimeoutError):
            asyncio.run(main())

    caller = threading.Thread(target=caller_with_its_own_loop)
    caller.start()
    assert await _wait_in_thread(started)
    await asyncio.get_running_loop().run_in_executor(None, caller.join, 10)
    release.set()  # the hop ends after its caller's loop closed
    assert await _echo("after") == (("after",), {})
