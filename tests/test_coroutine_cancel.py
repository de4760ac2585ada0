"""Cancellation, awaitables from other event loops, and background tasks."""
import asyncio
import logging
import types

import pytest

import rhc
from rhc.coroutine import Task, current_task, run_until_complete, spawn
from rhc.future import Cancelled, Future
from rhc.loop import Loop


@pytest.fixture
def loop():
    loop = Loop()
    yield loop
    loop.close()


def run(loop, awaitable, timeout=5):
    return run_until_complete(awaitable, timeout=timeout, loop=loop)


def turn(loop, turns=3):
    """Let the loop run a few callback rounds."""
    for _ in range(turns):
        loop._run_once(0)


@types.coroutine
def next_turn():
    yield


# -- cancellation ------------------------------------------------------------------

def test_cancel_raises_cancelled_at_the_await_and_runs_finally(loop):
    f = Future(loop)
    seen = []

    async def main():
        try:
            await f
        except Exception:
            seen.append('except Exception caught it')
        finally:
            seen.append('finally')
    task = Task(main(), loop)
    turn(loop)
    assert task.cancel()
    with pytest.raises(Cancelled):
        run(loop, task)
    assert seen == ['finally']
    assert task.cancelled() and f.cancelled()
    assert not task.cancel()


def test_coroutine_that_swallows_cancelled_ends_normally(loop):
    async def main():
        try:
            await rhc.sleep(10)
        except Cancelled:
            return 'ignored'
    task = Task(main(), loop)
    turn(loop)
    task.cancel()
    assert run(loop, task) == 'ignored'
    assert not task.cancelled()


def test_cancelled_coroutine_may_await_in_its_finally(loop):
    seen = []

    async def main():
        try:
            await rhc.sleep(10)
        finally:
            await rhc.sleep(0.01)
            seen.append('cleaned up')
    task = Task(main(), loop)
    turn(loop)
    task.cancel()
    with pytest.raises(Cancelled):
        run(loop, task)
    assert seen == ['cleaned up']


def test_cancel_before_the_first_step_never_runs_the_body(loop):
    seen = []

    async def main():
        seen.append('ran')
    task = Task(main(), loop)
    task.cancel()
    with pytest.raises(Cancelled):
        run(loop, task)
    assert seen == [] and task.cancelled()


def test_cancel_waits_for_an_awaited_task_that_ignores_it(loop):
    # The inner task swallows its cancellation, but the outer task was
    # cancelled and still gets Cancelled when it resumes.
    async def stubborn():
        try:
            await rhc.sleep(10)
        except Cancelled:
            return 'kept going'

    async def outer():
        return await Task(stubborn(), loop)
    task = Task(outer(), loop)
    turn(loop)
    task.cancel()
    with pytest.raises(Cancelled):
        run(loop, task)


def test_task_cancelling_itself_is_cancelled_at_its_next_await(loop):
    async def main():
        current_task().cancel()
        try:
            await rhc.sleep(10)
        except Cancelled:
            return 'cancelled at the await'
    assert run(loop, main()) == 'cancelled at the await'


def test_a_cancelled_awaited_future_cancels_the_task(loop):
    f = Future(loop)

    async def main():
        await f
    task = Task(main(), loop)
    turn(loop)
    f.cancel()
    with pytest.raises(Cancelled):
        run(loop, task)


# -- what may not be awaited --------------------------------------------------------

def test_awaiting_an_asyncio_future_raises_typeerror_naming_from_asyncio(loop):
    aloop = asyncio.new_event_loop()
    try:
        foreign = aloop.create_future()

        async def main():
            try:
                await foreign
            except TypeError as e:
                return str(e)
        message = run(loop, main())
    finally:
        aloop.close()
    assert 'rhc.from_asyncio' in message and 'Future' in message


def test_awaiting_asyncio_sleep_raises_typeerror_naming_from_asyncio(loop):
    async def main():
        await asyncio.sleep(0.1)
    with pytest.raises(TypeError, match=r'rhc\.from_asyncio'):
        run(loop, main())


def test_awaiting_asyncio_sleep_inside_a_running_asyncio_loop_also_fails_loudly(loop):
    # As in a notebook, where asyncio's loop is running while a cell runs.
    async def main():
        await asyncio.sleep(0.1)

    async def host():
        with pytest.raises(TypeError, match=r'rhc\.from_asyncio'):
            run(loop, main())
    asyncio.run(host())


def test_awaiting_a_foreign_trap_raises_typeerror(loop):
    class Trap:     # what a trio primitive yields to its own scheduler
        def __await__(self):
            yield ('trio-trap', 1)

    async def main():
        await Trap()
    with pytest.raises(TypeError, match=r"\('trio-trap', 1\).*rhc\.from_asyncio"):
        run(loop, main())


def test_awaiting_a_future_of_another_rhc_loop_fails(loop):
    other = Loop()
    try:
        async def main():
            await Future(other)
        with pytest.raises(RuntimeError, match='another rhc loop'):
            run(loop, main())
    finally:
        other.close()


def test_a_task_cannot_await_itself(loop):
    async def main():
        await current_task()
    with pytest.raises(RuntimeError, match='itself'):
        run(loop, main())


# -- spawn --------------------------------------------------------------------------

async def fails():
    await next_turn()
    raise ValueError('lost in the background')


def test_spawn_logs_an_error_nobody_awaits(loop, caplog):
    caplog.set_level(logging.ERROR, logger='rhc.task')
    task = spawn(fails(), loop)
    loop.run_until(task.done, 5)
    records = [r for r in caplog.records if r.name == 'rhc.task']
    assert len(records) == 1
    assert task.name in records[0].getMessage()
    assert records[0].exc_info[0] is ValueError
    assert 'lost in the background' in caplog.text and 'Traceback' in caplog.text


def test_spawn_awaited_error_is_not_logged(loop, caplog):
    async def main():
        task = spawn(fails())
        with pytest.raises(ValueError):
            await task
        return task.done()
    assert run(loop, main())
    assert not [r for r in caplog.records if r.name == 'rhc.task']


def test_spawn_with_done_callback_is_not_logged(loop, caplog):
    task = spawn(fails(), loop)
    seen = []
    task.add_done_callback(seen.append)
    loop.run_until(lambda: seen, 5)
    assert seen == [task] and isinstance(task.exception(), ValueError)
    assert not [r for r in caplog.records if r.name == 'rhc.task']


def test_spawn_cancelled_is_not_logged_and_result_is_readable(loop, caplog):
    async def forever():
        await rhc.sleep(10)

    async def quick():
        await next_turn()
        return 'ok'
    long = spawn(forever(), loop)
    short = rhc.spawn(quick(), loop)
    turn(loop)
    long.cancel()
    loop.run_until(lambda: long.done() and short.done(), 5)
    assert long.cancelled() and short.result() == 'ok'
    assert not [r for r in caplog.records if r.name == 'rhc.task']
