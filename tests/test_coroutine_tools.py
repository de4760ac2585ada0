"""sleep, gather, wait_for and Call on a real rhc loop."""
import time

import pytest

import rhc
from rhc.calls import Call
from rhc.coroutine import Task, run_until_complete
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
    for _ in range(turns):
        loop._run_once(0)


async def guarded(seconds, seen, name, result=None):
    """Sleep, recording whether it finished or was cancelled (its finally ran)."""
    try:
        await rhc.sleep(seconds)
        seen.append(f'{name} finished')
        return result
    finally:
        seen.append(f'{name} finally')


async def raise_after(seconds, error):
    await rhc.sleep(seconds)
    raise error


# -- sleep -----------------------------------------------------------------------------

def test_sleep_returns_its_result_after_the_delay(loop):
    async def main():
        start = time.monotonic()
        value = await rhc.sleep(0.05, 'woke')
        return value, time.monotonic() - start
    value, elapsed = run(loop, main())
    assert value == 'woke' and elapsed >= 0.04


def test_cancelling_a_sleep_cancels_its_timer(loop):
    async def main():
        nap = rhc.sleep(10)
        timer = nap._timer
        assert nap.cancel()
        assert timer.cancelled and nap.cancelled()
        assert nap._timer is None       # no cycle left: the timer's arguments hold the sleep
        with pytest.raises(Cancelled):
            await nap
        return 'ok'
    assert run(loop, main()) == 'ok'


def test_cancelling_a_task_in_sleep_cancels_the_timer(loop):
    naps = []

    async def main():
        nap = rhc.sleep(10)
        naps.append(nap._timer)
        await nap
    task = Task(main(), loop)
    turn(loop)
    task.cancel()
    with pytest.raises(Cancelled):
        run(loop, task)
    assert naps[0].cancelled


def test_sleep_zero_and_negative_resume(loop):
    async def main():
        return [await rhc.sleep(0, 'a'), await rhc.sleep(-1, 'b')]
    assert run(loop, main()) == ['a', 'b']


# -- gather ----------------------------------------------------------------------------

def test_gather_runs_concurrently(loop):
    async def main():
        start = time.monotonic()
        results = await rhc.gather(rhc.sleep(0.3, 'a'), rhc.sleep(0.3, 'b'))
        return results, time.monotonic() - start
    results, elapsed = run(loop, main())
    assert results == ['a', 'b']
    assert elapsed < 0.5        # one after the other would take 0.6 s


def test_gather_results_are_in_argument_order(loop):
    seen = []

    async def main():
        return await rhc.gather(guarded(0.06, seen, 'slow', 1), guarded(0.01, seen, 'fast', 2),
                                rhc.sleep(0.03, 3))
    assert run(loop, main()) == [1, 2, 3]
    assert seen.index('fast finished') < seen.index('slow finished')


def test_gather_of_nothing(loop):
    async def main():
        return await rhc.gather()
    assert run(loop, main()) == []


def test_gather_first_error_cancels_the_siblings(loop):
    seen = []

    async def main():
        try:
            await rhc.gather(guarded(10, seen, 'a'), raise_after(0.01, KeyError('boom')),
                             guarded(10, seen, 'b'))
        except KeyError as e:
            return e.args[0]
    assert run(loop, main()) == 'boom'
    turn(loop)
    assert sorted(seen) == ['a finally', 'b finally']


def test_gather_return_exceptions_keeps_going(loop):
    seen = []

    async def main():
        return await rhc.gather(guarded(0.03, seen, 'a', 'A'), raise_after(0.01, KeyError('boom')),
                                return_exceptions=True)
    a, error = run(loop, main())
    assert a == 'A' and isinstance(error, KeyError)
    assert seen == ['a finished', 'a finally']


def test_gather_return_exceptions_reports_a_cancelled_child(loop):
    nap = None

    async def main():
        nonlocal nap
        nap = rhc.sleep(10)
        rhc.sleep(0.01).add_done_callback(lambda _: nap.cancel())
        return await rhc.gather(nap, rhc.sleep(0.02, 'ok'), return_exceptions=True)
    cancelled, ok = run(loop, main())
    assert isinstance(cancelled, Cancelled) and ok == 'ok'


def test_cancelling_a_gather_cancels_its_children(loop):
    seen = []
    gathering = []

    async def main():
        g = rhc.gather(guarded(10, seen, 'a'), guarded(10, seen, 'b'))
        gathering.append(g)
        await g
    task = Task(main(), loop)
    turn(loop, 5)
    task.cancel()
    with pytest.raises(Cancelled):
        run(loop, task)
    assert gathering[0].cancelled()
    assert sorted(seen) == ['a finally', 'b finally']   # they had cleaned up before it resumed


def test_gather_a_future_and_a_call(loop):
    f = Future(loop)
    loop.call_later(0.01, f.set_result, 'future')

    def later(callback, value):
        return loop.call_later(0.01, callback, 0, value)

    async def main():
        return await rhc.gather(f, Call(later, 'call'))
    assert run(loop, main()) == ['future', 'call']


# -- wait_for --------------------------------------------------------------------------

def test_wait_for_returns_in_time(loop):
    async def main():
        return await rhc.wait_for(rhc.sleep(0.01, 'on time'), 5)
    assert run(loop, main()) == 'on time'


def test_wait_for_timeout_cancels_the_inner_coroutine_first(loop):
    seen = []

    async def main():
        try:
            await rhc.wait_for(guarded(10, seen, 'inner'), 0.05)
        except CallError as e:
            seen.append(f'outer got {e}')
            return e
    error = run(loop, main())
    assert str(error) == 'timeout' and error.status is None
    assert seen == ['inner finally', 'outer got timeout']


def test_wait_for_timeout_cancels_an_outbound_call(loop):
    handle = loop.call_later(10, lambda: None)

    def never(callback):
        return handle

    async def main():
        await rhc.wait_for(Call(never), 0.02)
    with pytest.raises(CallError, match='^timeout$'):
        run(loop, main())
    assert handle.cancelled


def test_wait_for_inner_that_ignores_cancellation_still_times_out(loop):
    async def stubborn():
        try:
            await rhc.sleep(10)
        except Cancelled:
            return 'ignored'

    async def main():
        await rhc.wait_for(stubborn(), 0.02)
    with pytest.raises(CallError, match='^timeout$'):
        run(loop, main())


def test_wait_for_passes_the_inner_exception_through(loop):
    async def main():
        await rhc.wait_for(raise_after(0.01, KeyError('inner')), 5)
    with pytest.raises(KeyError, match='inner'):
        run(loop, main())


def test_wait_for_without_a_limit(loop):
    async def main():
        return await rhc.wait_for(rhc.sleep(0.01, 'x'), None)
    assert run(loop, main()) == 'x'


def test_cancelling_the_waiter_cancels_the_inner_coroutine(loop):
    seen = []

    async def main():
        await rhc.wait_for(guarded(10, seen, 'inner'), 5)
    task = Task(main(), loop)
    turn(loop, 5)
    task.cancel()
    with pytest.raises(Cancelled):
        run(loop, task)
    assert seen == ['inner finally']


# -- Call ------------------------------------------------------------------------------

def answer_later(loop, rc, result, delay=0.01):
    def fn(callback, *args, **kwargs):
        return loop.call_later(delay, callback, rc, (result, args, kwargs) if rc == 0 else result)
    return fn


def test_call_awaited_returns_the_result(loop):
    call = Call(answer_later(loop, 0, 'r'), 1, 2, x=3)

    async def main():
        return await call
    assert run(loop, main()) == ('r', (1, 2), {'x': 3})


def test_call_awaited_raises_a_message_as_callerror(loop):
    async def main():
        await Call(answer_later(loop, 1, 'it broke'))
    with pytest.raises(CallError, match='^it broke$'):
        run(loop, main())


def test_call_awaited_raises_the_callers_exception(loop):
    error = CallError('404 Not Found: no', status=404)

    async def main():
        try:
            await Call(answer_later(loop, 1, error))
        except CallError as e:
            return e
    assert run(loop, main()) is error


def test_call_raising_when_started_raises_at_the_await(loop):
    def broken(callback):
        raise ValueError('bad arguments')

    async def main():
        await Call(broken)
    with pytest.raises(ValueError, match='bad arguments'):
        run(loop, main())


def test_call_with_a_callback(loop):
    seen = []
    call = Call(answer_later(loop, 0, 'r'), 'a', k='v')
    handle = call(lambda rc, result: seen.append((rc, result)))
    assert handle is not None and hasattr(handle, 'cancel')
    loop.run_until(lambda: seen, 5)
    assert seen == [(0, ('r', ('a',), {'k': 'v'}))]


def test_call_answering_at_once_needs_no_loop_turn(loop):
    def mock(callback, x):
        callback(0, x + 1)

    async def handler():
        return await Call(mock, 41)
    task = Task(handler(), loop, eager=True)
    assert task.done() and task.result() == 42


def test_cancelling_an_awaited_call_cancels_its_handle(loop):
    class Handle:
        cancelled = False

        def cancel(self):
            self.cancelled = True
    handle = Handle()
    callbacks = []

    def outbound(callback):
        callbacks.append(callback)
        return handle

    async def main():
        await Call(outbound)
    task = Task(main(), loop)
    turn(loop)
    task.cancel()
    with pytest.raises(Cancelled):
        run(loop, task)
    assert handle.cancelled
    callbacks[0](0, 'too late')        # a late answer is dropped, not an error
    turn(loop)


def test_call_reporting_twice_keeps_the_first(loop):
    def twice(callback):
        callback(0, 'first')
        callback(1, 'second')

    async def main():
        return await Call(twice)
    assert run(loop, main()) == 'first'


def test_call_handle_without_cancel_is_fine(loop):
    def no_handle(callback):
        return None

    async def main():
        await Call(no_handle)
    task = Task(main(), loop)
    turn(loop)
    task.cancel()
    with pytest.raises(Cancelled):
        run(loop, task)


def test_run_until_complete_awaits_a_call_directly(loop):
    assert run(loop, Call(answer_later(loop, 0, 'direct'))) == ('direct', (), {})
