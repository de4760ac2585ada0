"""Futures and tasks on rhc's own loop: every way a coroutine ends, eager tasks,
run_until_complete, contextvars, many tasks at once."""
import contextvars
import random
import threading
import types

import pytest

import rhc
from rhc.coroutine import Task, current_task, ensure_future, run_until_complete
from rhc.errors import CallError
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


# -- Future ---------------------------------------------------------------------

def test_future_result_and_state(loop):
    f = Future(loop)
    assert not f.done() and not f.cancelled()
    with pytest.raises(RuntimeError, match='not done'):
        f.result()
    with pytest.raises(RuntimeError, match='not done'):
        f.exception()
    f.set_result(3)
    assert f.done() and f.result() == 3 and f.exception() is None
    with pytest.raises(RuntimeError, match='already done'):
        f.set_result(4)
    assert not f.cancel()


def test_future_exception_is_raised_by_result(loop):
    f = Future(loop)
    f.set_exception(ValueError)
    assert isinstance(f.exception(), ValueError)
    with pytest.raises(ValueError):
        f.result()
    with pytest.raises(TypeError):
        Future(loop).set_exception('not an exception')
    with pytest.raises(TypeError, match='StopIteration'):
        Future(loop).set_exception(StopIteration())


def test_cancelled_future_raises_cancelled_not_exception(loop):
    f = Future(loop)
    assert f.cancel() and f.cancelled() and f.done()
    assert not f.cancel()
    with pytest.raises(Cancelled):
        f.result()
    with pytest.raises(Cancelled):
        f.exception()
    assert not issubclass(Cancelled, Exception) and rhc.Cancelled is Cancelled


def test_done_callbacks_run_on_the_loop_even_when_already_done(loop):
    f = Future(loop)
    seen = []
    f.add_done_callback(seen.append)
    f.add_done_callback(lambda fut: seen.append('second'))
    f.set_result(1)
    assert seen == []               # never inline
    turn(loop)
    assert seen == [f, 'second']
    f.add_done_callback(seen.append)
    assert seen == [f, 'second']
    turn(loop)
    assert seen == [f, 'second', f]


def test_remove_done_callback(loop):
    f = Future(loop)
    seen = []
    f.add_done_callback(seen.append)
    f.add_done_callback(seen.append)
    assert f.remove_done_callback(seen.append) == 2
    assert f.remove_done_callback(seen.append) == 0
    f.set_result(1)
    turn(loop)
    assert seen == []


def test_future_handed_from_callback_code_to_a_coroutine(loop):
    f = Future(loop)
    loop.call_later(0.02, f.set_result, 42)

    async def main():
        return await f + 1
    assert run(loop, main()) == 43


def test_future_settled_from_another_thread(loop):
    f = Future(loop)
    threading.Thread(target=lambda: loop.call_soon_threadsafe(f.set_result, 'hi')).start()

    async def main():
        return await f
    assert run(loop, main()) == 'hi'


def test_awaiting_a_done_future_does_not_suspend(loop):
    f = Future(loop)
    f.set_result(5)

    async def main():
        return await f
    task = Task(main(), loop, eager=True)
    assert task.done() and task.result() == 5


# -- how a task ends ---------------------------------------------------------------

def test_task_returns_without_awaiting(loop):
    async def main():
        return 'value'
    task = Task(main(), loop)
    assert not task.done()          # a plain task starts on the next loop turn
    assert run(loop, task) == 'value'


def test_task_returns_after_awaiting(loop):
    f = Future(loop)

    async def main():
        first = await f
        second = await next_turn()
        return first, second
    loop.call_soon(f.set_result, 1)
    assert run(loop, main()) == (1, None)


def test_task_returns_none(loop):
    async def main():
        await next_turn()
    assert run(loop, main()) is None


def test_task_raises_before_awaiting(loop):
    async def main():
        raise KeyError('early')
    with pytest.raises(KeyError, match='early'):
        run(loop, main())


def test_task_raises_after_awaiting(loop):
    async def main():
        await next_turn()
        raise KeyError('late')
    task = ensure_future(main(), loop)
    with pytest.raises(KeyError, match='late'):
        run(loop, task)
    assert isinstance(task.exception(), KeyError)


def test_exception_raised_into_coroutine_can_be_caught(loop):
    f = Future(loop)
    loop.call_soon(f.set_exception, ValueError('bad'))

    async def main():
        try:
            await f
        except ValueError as e:
            return f'caught {e}'
    assert run(loop, main()) == 'caught bad'


def test_exception_raised_into_coroutine_propagates_with_traceback(loop):
    f = Future(loop)
    loop.call_soon(f.set_exception, ValueError('bad'))

    async def main():
        await f
    task = ensure_future(main(), loop)
    with pytest.raises(ValueError) as info:
        run(loop, task)
    assert 'main' in [entry.name for entry in info.traceback]


def test_a_task_is_awaitable_from_another_task(loop):
    async def inner():
        await next_turn()
        return 'inner'

    async def outer():
        return await Task(inner(), loop) + '+outer'
    assert run(loop, outer()) == 'inner+outer'


def test_task_result_cannot_be_set_from_outside(loop):
    async def main():
        await next_turn()
    task = Task(main(), loop)
    with pytest.raises(RuntimeError):
        task.set_result(1)
    with pytest.raises(RuntimeError):
        task.set_exception(ValueError())
    run(loop, task)


def test_task_needs_a_coroutine(loop):
    with pytest.raises(TypeError, match='coroutine'):
        Task(lambda: None, loop)


def test_current_task(loop):
    async def main():
        return current_task()
    task = Task(main(), loop)
    assert run(loop, task) is task
    assert current_task() is None


# -- eager tasks ---------------------------------------------------------------------

def test_eager_task_that_never_awaits_finishes_in_the_constructor(loop):
    async def handler(x):
        return x * 2
    task = Task(handler(21), loop, eager=True)
    assert task.done() and task.result() == 42
    assert not loop._ready          # nothing was queued on the loop


def test_eager_task_raising_at_once_is_done_with_the_exception(loop):
    async def handler():
        raise rhc.HTTPError(404, 'nope')
    task = Task(handler(), loop, eager=True)
    assert task.done() and isinstance(task.exception(), rhc.HTTPError)


def test_eager_task_runs_up_to_its_first_await(loop):
    seen = []
    f = Future(loop)

    async def handler():
        seen.append('started')
        seen.append(await f)
    task = Task(handler(), loop, eager=True)
    assert seen == ['started'] and not task.done()
    f.set_result('resumed')
    run(loop, task)
    assert seen == ['started', 'resumed']


# -- ensure_future and run_until_complete --------------------------------------------

def test_ensure_future(loop):
    f = Future(loop)
    assert ensure_future(f) is f

    async def coro():
        return 1
    task = ensure_future(coro(), loop)
    assert isinstance(task, Task) and run(loop, task) == 1

    class Awaitable:
        def __await__(self):
            yield from next_turn()
            return 'awaited'
    assert run(loop, ensure_future(Awaitable(), loop)) == 'awaited'
    with pytest.raises(TypeError, match='not awaitable'):
        ensure_future(42)


def test_run_until_complete_timeout_cancels_and_lets_finally_run(loop):
    seen = []

    async def slow():
        try:
            await rhc.sleep(10)
        finally:
            seen.append('finally')
    with pytest.raises(CallError, match='^timeout$'):
        run(loop, slow(), timeout=0.05)
    assert seen == ['finally']


def test_run_until_complete_refuses_to_nest(loop):
    async def inner():
        return 1
    errors = []

    def callback():
        coro = inner()
        try:
            run(loop, coro)
        except RuntimeError as e:
            errors.append(str(e))
        coro.close()
    loop.call_soon(callback)
    loop.run_until(lambda: errors, 1)
    assert errors and 'await' in errors[0]


def test_run_until_complete_uses_the_default_loop():
    async def main():
        await rhc.sleep(0.01)
        return 'default'
    assert run_until_complete(main()) == 'default'


# -- contextvars --------------------------------------------------------------------

request_id = contextvars.ContextVar('request_id', default=None)


def test_context_variables_never_leak_between_concurrent_tasks(loop):
    async def handler(i):
        assert request_id.get() is None
        request_id.set(i)
        for _ in range(3):
            await rhc.sleep(random.random() / 100)
            assert request_id.get() == i
        return request_id.get()

    async def main():
        return await rhc.gather(*(handler(i) for i in range(100)))
    assert run(loop, main()) == list(range(100))
    assert request_id.get() is None


def test_a_task_starts_with_a_copy_of_its_creators_context(loop):
    async def child():
        seen = request_id.get()
        request_id.set('child')
        return seen

    async def parent():
        request_id.set('parent')
        seen = await Task(child(), loop)
        return seen, request_id.get()
    assert run(loop, parent()) == ('parent', 'parent')


# -- many tasks -----------------------------------------------------------------------

def test_a_thousand_concurrent_tasks_each_awaiting_a_sleep(loop):
    done = []

    async def one(i):
        await rhc.sleep(0.05)
        done.append(i)
        return i
    tasks = [Task(one(i), loop) for i in range(1000)]
    loop.run_until(lambda: all(t.done() for t in tasks), 20)
    assert [t.result() for t in tasks] == list(range(1000))
    assert sorted(done) == list(range(1000))
