"""to_thread and from_asyncio: work off the loop that resumes coroutines on it."""
import asyncio
import contextvars
import os
import threading
import time

import pytest

import rhc
from rhc import threads
from rhc.coroutine import Task, current_task, run_until_complete
from rhc.future import Cancelled
from rhc.loop import Loop


@pytest.fixture
def loop():
    loop = Loop()
    yield loop
    loop.close()


def run(loop, awaitable, timeout=5):
    return run_until_complete(awaitable, timeout=timeout, loop=loop)


def ticking(loop, ticks, every=0.02):
    """Count loop timer firings into `ticks` until the returned stop() is called."""
    handle = None

    def tick():
        nonlocal handle
        ticks.append(time.monotonic())
        handle = loop.call_later(every, tick)
    handle = loop.call_later(every, tick)
    return lambda: handle.cancel()


# -- to_thread -------------------------------------------------------------------------

def test_loop_timers_keep_firing_while_a_thread_blocks(loop):
    ticks = []

    async def main():
        stop = ticking(loop, ticks)
        start = time.monotonic()
        result = await rhc.to_thread(lambda: time.sleep(0.3) or threading.current_thread().name)
        stop()
        return result, [t for t in ticks if start < t < time.monotonic()]
    name, during = run(loop, main())
    assert name.startswith('rhc-thread') and name != threading.current_thread().name
    assert len(during) >= 5        # a blocked loop would not have ticked at all


def test_to_thread_passes_arguments_and_returns(loop):
    async def main():
        return await rhc.to_thread(divmod, 17, 5), await rhc.to_thread(int, '11', base=2)
    assert run(loop, main()) == ((3, 2), 3)


def test_to_thread_raises_the_functions_exception(loop):
    def fails():
        raise LookupError('in the thread')

    async def main():
        await rhc.to_thread(fails)
    with pytest.raises(LookupError, match='in the thread'):
        run(loop, main())


def test_to_thread_sees_the_callers_context_but_no_task(loop):
    var = contextvars.ContextVar('var')

    async def main():
        var.set('from the task')
        return await rhc.to_thread(lambda: (var.get(), current_task()))
    assert run(loop, main()) == ('from the task', None)


def test_cancelling_to_thread_drops_the_result(loop):
    started = threading.Event()
    release = threading.Event()
    finished = threading.Event()
    seen = []

    def blocking():
        started.set()
        release.wait(5)
        finished.set()
        return 'dropped'

    async def main():
        try:
            seen.append(await rhc.to_thread(blocking))
        except Cancelled:
            seen.append('cancelled')
            raise
    task = Task(main(), loop)
    loop.run_until(lambda: task._waiting is not None, 5)
    assert started.wait(5)
    task.cancel()
    with pytest.raises(Cancelled):
        run(loop, task)
    release.set()
    assert finished.wait(5)
    loop.run_until(lambda: False, 0.05)      # the late result arrives and is dropped
    assert seen == ['cancelled']


def test_pool_is_bounded():
    assert threads.pool_size() == min(32, (os.cpu_count() or 1) + 4)
    assert threads._thread_pool()._max_workers == threads.pool_size()


# -- from_asyncio ----------------------------------------------------------------------

async def asyncio_value(value):
    await asyncio.sleep(0.05)
    return value, asyncio.get_running_loop() is not None


async def asyncio_raises():
    await asyncio.sleep(0.01)
    raise ConnectionResetError('from asyncio')


def test_from_asyncio_returns_the_value(loop):
    async def main():
        return await rhc.from_asyncio(asyncio_value(7))
    assert run(loop, main()) == (7, True)


def test_from_asyncio_raises_the_exception(loop):
    async def main():
        await rhc.from_asyncio(asyncio_raises())
    with pytest.raises(ConnectionResetError, match='from asyncio'):
        run(loop, main())


def test_from_asyncio_runs_concurrently_with_gather(loop):
    async def main():
        start = time.monotonic()
        values = await rhc.gather(rhc.from_asyncio(asyncio_value(1)), rhc.from_asyncio(asyncio_value(2)),
                                  rhc.sleep(0.05, 3))
        return values, time.monotonic() - start
    values, elapsed = run(loop, main())
    assert values == [(1, True), (2, True), 3] and elapsed < 0.5


def test_cancelling_from_asyncio_cancels_the_asyncio_task(loop):
    started = threading.Event()
    cancelled = threading.Event()

    async def forever():
        started.set()
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    async def main():
        await rhc.from_asyncio(forever())
    task = Task(main(), loop)
    loop.run_until(lambda: task._waiting is not None, 5)
    assert started.wait(5)
    task.cancel()
    with pytest.raises(Cancelled):
        run(loop, task)
    assert cancelled.wait(5)


def test_from_asyncio_needs_a_coroutine(loop):
    with pytest.raises(TypeError, match='coroutine'):
        rhc.from_asyncio(asyncio.sleep)


# -- fork --------------------------------------------------------------------------------

def test_helpers_work_again_in_a_forked_child(loop):
    async def parent():
        return await rhc.to_thread(lambda: 'parent'), await rhc.from_asyncio(asyncio_value('p'))
    assert run(loop, parent()) == ('parent', ('p', True))
    old_pool = threads._pool
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:        # the child: the parent's threads are gone, fresh ones must start
        try:
            child_loop = Loop()
            fresh = threads._pool is None and threads._asyncio_loop is None

            async def child():
                return await rhc.to_thread(lambda: 'thread'), await rhc.from_asyncio(asyncio_value('aio'))
            result = run_until_complete(child(), timeout=5, loop=child_loop)
            ok = fresh and result == ('thread', ('aio', True)) and threads._pool is not old_pool
            os.write(write, b'ok' if ok else repr((fresh, result)).encode())
        finally:
            os._exit(0)
    os.close(write)
    try:
        with os.fdopen(read, 'rb') as pipe:
            said = pipe.read()
    finally:
        os.waitpid(pid, 0)
    assert said == b'ok'
