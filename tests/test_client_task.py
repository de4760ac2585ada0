"""Composing async callables (`partial`, `call`, `wrap`, `Task`) and `rhc.timer`."""
import time

import pytest

import rhc
import rhc.async_ as async_
from rhc.loop import get_loop


def later(callback, value, delay=0.01):
    """An async callable that answers on the loop, a little later."""
    get_loop().call_later(delay, callback, 0, value)


def failing(callback, message):
    get_loop().call_soon(callback, 1, rhc.CallError(message))


def collect():
    results = []
    return results, lambda rc, result: results.append((rc, result))


# -- async_ ----------------------------------------------------------------------

def test_async_module_exposes_the_same_names():
    for name in ('Connection', 'connect', 'CallError', 'run', 'stop', 'wait', 'Task', 'call',
                 'partial', 'wrap', 'timer'):
        assert getattr(async_, name) is getattr(rhc, name), name
    assert set(async_.__all__) <= set(dir(rhc))


# -- partial, wrap, call ------------------------------------------------------------

def test_partial_decorator():
    @rhc.partial
    def add(callback, a, b=0):
        later(callback, a + b)

    assert add.__name__ == 'add'
    assert rhc.wait(add(1, b=2), timeout=5) == 3
    assert rhc.wait(add(5), timeout=5) == 5


def test_partial_that_raises_is_an_error():
    @rhc.partial
    def broken(callback):
        raise ValueError('bad input')
    results, callback = collect()
    broken()(callback)
    assert results[0][0] == 1 and isinstance(results[0][1], ValueError)
    with pytest.raises(ValueError, match='bad input'):
        rhc.wait(broken(), timeout=5)


def test_wrap_binds_arguments():
    assert rhc.wait(rhc.wrap(later, 'x', delay=0.02), timeout=5) == 'x'
    with pytest.raises(rhc.CallError, match='nope'):
        rhc.wait(rhc.wrap(failing, 'nope'), timeout=5)


def test_call_starts_a_partial():
    results, callback = collect()
    rhc.call(callback, rhc.wrap(later, 7))
    get_loop().run_until(lambda: results, timeout=5)
    assert results == [(0, 7)]


def test_call_turns_a_raise_into_an_error():
    results, callback = collect()

    def explode(cb):
        raise RuntimeError('kaboom')
    rhc.call(callback, explode)
    assert results[0][0] == 1 and str(results[0][1]) == 'kaboom'


def test_wait_error_that_is_not_an_exception():
    with pytest.raises(rhc.CallError, match='^plain message$'):
        rhc.wait(lambda cb: cb(1, 'plain message'), timeout=5)


def test_wait_returns_an_immediate_result_without_running_the_loop():
    assert rhc.wait(lambda cb: cb(0, 'now')) == 'now'


def test_wait_timeout_on_a_callable_that_never_answers():
    started = time.monotonic()
    with pytest.raises(rhc.CallError) as info:
        rhc.wait(lambda cb: None, timeout=0.2)
    assert str(info.value) == 'timeout' and info.value.status is None
    assert 0.15 < time.monotonic() - started < 2


def test_wait_uses_the_first_answer_only():
    def twice(cb):
        cb(0, 'first')
        cb(0, 'second')
    assert rhc.wait(twice) == 'first'


def test_run_until_stop():
    loop = get_loop()
    ran = []
    loop.call_later(0.05, lambda: (ran.append(1), rhc.stop()))
    started = time.monotonic()
    rhc.run()
    assert ran == [1]
    assert time.monotonic() - started < 2


# -- Task ----------------------------------------------------------------------------

def test_first_parameter_named_task_gets_a_task():
    seen = []

    def lower(task, value):
        seen.append(task)
        task.respond(value * 2)

    assert rhc.wait(rhc.wrap(lower, 21), timeout=5) == 42
    assert isinstance(seen[0], rhc.Task)


def test_other_first_parameter_gets_the_bare_callback():
    seen = []

    def lower(cb, value):
        seen.append(cb)
        cb(0, value)
    results, callback = collect()
    rhc.wrap(lower, 1)(callback)
    assert seen == [callback]
    assert results == [(0, 1)]


def test_task_responds_once():
    results, callback = collect()
    task = rhc.Task(callback)
    task.respond('a')
    task.respond('b')
    task.error('c')
    assert results == [(0, 'a')]
    assert task.is_done


def test_task_error():
    def lower(task):
        task.error('went wrong')
    with pytest.raises(rhc.CallError, match='went wrong'):
        rhc.wait(rhc.wrap(lower), timeout=5)


def test_task_call_passes_the_result_up():
    def upper(task, value):
        task.call(later, args=value)
    assert rhc.wait(rhc.wrap(upper, 'v'), timeout=5) == 'v'


def test_task_call_passes_an_error_up():
    def upper(task):
        task.call(failing, args=['broken'])
    with pytest.raises(rhc.CallError, match='broken'):
        rhc.wait(rhc.wrap(upper), timeout=5)


def test_task_call_on_success():
    def upper(task):
        task.call(later, args=(3,), on_success=lambda t, result: t.respond(result + 1))
    assert rhc.wait(rhc.wrap(upper), timeout=5) == 4


def test_task_call_on_none():
    def upper(task, value):
        task.call(later, args=[value], on_none=lambda t, result: t.respond('was none'),
                  on_success=lambda t, result: t.respond(('some', result)))
    assert rhc.wait(rhc.wrap(upper, None), timeout=5) == 'was none'
    assert rhc.wait(rhc.wrap(upper, 0), timeout=5) == ('some', 0)


def test_task_call_on_error():
    def upper(task):
        task.call(failing, args='db down', on_error=lambda t, error: t.respond(f'fallback: {error}'))
    assert rhc.wait(rhc.wrap(upper), timeout=5) == 'fallback: db down'


def test_task_call_on_timeout():
    def upper(task):
        task.call(failing, args='timeout',
                  on_timeout=lambda t, error: t.respond('timed out'),
                  on_error=lambda t, error: t.respond('other error'))
    assert rhc.wait(rhc.wrap(upper), timeout=5) == 'timed out'

    def other(task):
        task.call(failing, args='refused',
                  on_timeout=lambda t, error: t.respond('timed out'),
                  on_error=lambda t, error: t.respond('other error'))
    assert rhc.wait(rhc.wrap(other), timeout=5) == 'other error'


def test_task_call_on_timeout_from_a_real_call():
    import socket
    listener = socket.socket()
    listener.bind(('127.0.0.1', 0))
    listener.listen(1)       # accepts (in the kernel) and never answers
    try:
        con = rhc.Connection(f'http://127.0.0.1:{listener.getsockname()[1]}', timeout=0.2)

        def upper(task):
            task.call(con.get('/'), on_timeout=lambda t, error: t.respond('gave up'))
        assert rhc.wait(rhc.wrap(upper), timeout=5) == 'gave up'
    finally:
        listener.close()


def test_task_call_hook_that_raises_is_an_error():
    def upper(task):
        task.call(later, args=1, on_success=lambda t, result: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        rhc.wait(rhc.wrap(upper), timeout=5)


def test_task_call_chains_tasks():
    def bottom(task, n):
        get_loop().call_soon(task.respond, n + 1)

    def middle(task, n):
        task.call(bottom, args=n, on_success=lambda t, r: t.call(bottom, args=r))

    def top(task):
        task.call(middle, args=0)
    assert rhc.wait(rhc.wrap(top), timeout=5) == 2


# -- timers ----------------------------------------------------------------------------

def run_for(seconds):
    get_loop().run_until(lambda: False, timeout=seconds)


def test_timer_fires_after_its_duration():
    fired = []
    started = time.monotonic()
    t = rhc.timer.add(lambda: fired.append(time.monotonic() - started), 50)
    assert not t.is_running
    assert t.start() is t
    assert t.is_running
    get_loop().run_until(lambda: fired, timeout=2)
    assert len(fired) == 1 and 0.045 <= fired[0] < 1
    assert not t.is_running


def test_timer_start_twice_runs_once():
    fired = []
    t = rhc.timer.add(lambda: fired.append(1), 20).start()
    t.start()
    run_for(0.1)
    assert fired == [1]


def test_timer_re_start_pushes_the_deadline_back():
    fired = []
    started = time.monotonic()
    t = rhc.timer.add(lambda: fired.append(time.monotonic() - started), 100).start()
    run_for(0.06)
    assert not fired
    t.re_start()
    get_loop().run_until(lambda: fired, timeout=2)
    assert len(fired) == 1 and fired[0] >= 0.15


def test_timer_cancel():
    fired = []
    t = rhc.timer.add(lambda: fired.append(1), 30).start()
    t.cancel()
    assert not t.is_running
    run_for(0.1)
    assert fired == []
    t.cancel()          # cancelling again is harmless
    t.start()
    run_for(0.1)
    assert fired == [1]


def test_timer_expire_runs_now():
    fired = []
    t = rhc.timer.add(lambda: fired.append(1), 10_000).start()
    t.expire()
    run_for(0.05)
    assert fired == [1]
    run_for(0.05)
    assert fired == [1]           # the original deadline does not fire too


def test_timer_expire_then_cancel_does_not_run():
    fired = []
    t = rhc.timer.add(lambda: fired.append(1), 10_000)
    t.expire()
    t.cancel()
    run_for(0.05)
    assert fired == []


def test_timer_cancelled_by_a_timer_due_at_the_same_moment():
    """A timer cancelled by another one that falls due in the same turn of the loop."""
    fired = []
    second = rhc.timer.add(lambda: fired.append('second'), 20)
    first = rhc.timer.add(lambda: (fired.append('first'), second.cancel()), 20)
    first.start()
    second.start()
    time.sleep(0.05)          # both are due when the loop next looks
    run_for(0.05)
    assert fired == ['first']


def test_timer_restarted_by_a_timer_due_at_the_same_moment():
    fired = []
    second = rhc.timer.add(lambda: fired.append(time.monotonic()), 20)
    first = rhc.timer.add(lambda: second.re_start(), 20)
    first.start()
    second.start()
    time.sleep(0.05)
    restarted = time.monotonic()
    run_for(0.01)
    assert fired == []          # pushed back, not run now
    get_loop().run_until(lambda: fired, timeout=2)
    assert len(fired) == 1 and fired[0] - restarted >= 0.015


def test_timer_action_can_restart_itself():
    fired = []

    def tick():
        fired.append(1)
        if len(fired) < 3:
            t.start()
    t = rhc.timer.add(tick, 10).start()
    get_loop().run_until(lambda: len(fired) == 3, timeout=2)
    run_for(0.05)
    assert fired == [1, 1, 1]


def test_backoff_timer_grows_to_its_maximum_and_resets():
    fired = []
    t = rhc.timer.add_backoff(lambda: fired.append(t.duration), 10, 50)
    assert t.duration == 10
    durations = []
    for _ in range(5):
        durations.append(t.duration)
        t.start()
        get_loop().run_until(lambda: len(fired) == len(durations), timeout=2)
    assert durations == [10, 20, 40, 50, 50]
    assert t.reset() is t
    assert t.duration == 10


def test_backoff_timer_multiplier_and_real_waits():
    fired = []
    t = rhc.timer.add_backoff(lambda: fired.append(time.monotonic()), 20, 1000, multiplier=3)
    started = time.monotonic()
    t.start()
    get_loop().run_until(lambda: fired, timeout=2)
    t.start()
    get_loop().run_until(lambda: len(fired) == 2, timeout=2)
    assert fired[0] - started >= 0.019
    assert fired[1] - fired[0] >= 0.059
    assert t.duration == 180


def test_timer_driven_by_wait():
    t_holder = []

    def fn(callback):
        t_holder.append(rhc.timer.add(lambda: callback(0, 'timer done'), 20).start())
    assert rhc.wait(fn, timeout=2) == 'timer done'


def test_loop_timer_cancelled_in_the_same_turn_does_not_run():
    loop = get_loop()
    ran = []
    second = None

    def first():
        ran.append('first')
        second.cancel()
    loop.call_later(0.01, first)
    second = loop.call_later(0.01, ran.append, 'second')
    time.sleep(0.03)
    loop.run_until(lambda: False, timeout=0.05)
    assert ran == ['first']
