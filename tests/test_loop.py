"""The event loop: one place runs callbacks, and nothing they raise stops it."""
import logging
import socket
import time

import pytest

from rhc.loop import Loop


@pytest.fixture
def loop():
    loop = Loop()
    yield loop
    loop.close()


def test_call_soon_runs_in_order(loop):
    seen = []
    loop.call_soon(seen.append, 1)
    loop.call_soon(seen.append, 2)
    assert loop.run_until(lambda: len(seen) == 2, timeout=1)
    assert seen == [1, 2]


def test_timers_fire_in_time_order_and_cancel(loop):
    seen = []
    loop.call_later(0.03, seen.append, 'late')
    loop.call_later(0.01, seen.append, 'early')
    loop.call_later(0.02, seen.append, 'cancelled').cancel()
    loop.run_until(lambda: len(seen) == 2, timeout=1)
    time.sleep(0.03)
    loop.run_until(lambda: False, timeout=0.02)
    assert seen == ['early', 'late']


def test_an_exception_is_logged_and_the_loop_goes_on(loop, caplog):
    seen = []

    def boom():
        raise ValueError('kaboom')
    loop.call_soon(boom)
    loop.call_soon(seen.append, 'after')
    with caplog.at_level(logging.ERROR, logger='rhc.loop'):
        assert loop.run_until(lambda: seen, timeout=1)
    assert 'kaboom' in caplog.text


def test_run_until_times_out(loop):
    started = time.monotonic()
    assert loop.run_until(lambda: False, timeout=0.05) is False
    assert time.monotonic() - started < 1


def test_stop_ends_run(loop):
    loop.call_later(0.01, loop.stop)
    loop.run()


def test_nested_run_is_refused(loop):
    errors = []

    def nested():
        try:
            loop.run_until(lambda: True)
        except RuntimeError as e:
            errors.append(str(e))
    loop.call_soon(nested)
    loop.run_until(lambda: errors, timeout=1)
    assert errors == ['the rhc loop is already running']


def test_readers_and_writers(loop):
    a, b = socket.socketpair()
    a.setblocking(False)
    b.setblocking(False)
    got = []

    def on_read():
        got.append(b.recv(100))
        loop.remove_reader(b)

    def on_write():
        a.send(b'hello')
        loop.remove_writer(a)
    loop.add_reader(b, on_read)
    loop.add_writer(a, on_write)
    assert loop.run_until(lambda: got, timeout=1)
    assert got == [b'hello']
    loop.forget(a)
    loop.forget(b)
    a.close()
    b.close()


def test_threadsafe_call_wakes_the_loop(loop):
    import threading
    seen = []
    threading.Timer(0.02, lambda: loop.call_soon_threadsafe(seen.append, 'x')).start()
    assert loop.run_until(lambda: seen, timeout=2)


def test_cancelled_timers_do_not_pile_up(loop):
    for _ in range(5000):
        loop.call_later(60, lambda: None).cancel()
    assert len(loop._timers) < 1100


def test_coarse_timers_fire_late_by_at_most_a_bucket_and_cancel(loop):
    from rhc.loop import COARSE
    seen = []
    started = loop.time()
    loop.call_later_coarse(0.01, lambda: seen.append(loop.time() - started))
    loop.call_later_coarse(0.01, seen.append, 'cancelled').cancel()
    assert loop.run_until(lambda: seen, timeout=1)
    loop.run_until(lambda: False, timeout=2 * COARSE)
    assert len(seen) == 1 and 0.01 <= seen[0]


def test_a_coarse_timer_may_cancel_another_of_its_bucket(loop, caplog):
    # A connection's linger timer firing closes it, which cancels its idle
    # timer: often the same bucket.
    seen = []
    second = None

    def first():
        seen.append('first')
        second.cancel()
    loop.call_later_coarse(0.01, first)
    second = loop.call_later_coarse(0.01, seen.append, 'second')
    loop.call_later_coarse(0.01, seen.append, 'third')
    with caplog.at_level(logging.ERROR, logger='rhc.loop'):
        assert loop.run_until(lambda: 'third' in seen, timeout=1)
    assert seen == ['first', 'third']
    assert 'failed' not in caplog.text


def test_turn_end_callbacks_run_after_the_turns_events_and_callbacks(loop):
    seen = []
    a, b = socket.socketpair()
    try:
        a.setblocking(False)
        b.send(b'x')

        def readable():
            a.recv(1)
            seen.append('event')
            loop.call_at_turn_end(lambda: seen.append('turn end'))
            loop.call_soon(seen.append, 'callback')

        loop.add_reader(a, readable)
        assert loop.run_until(lambda: 'turn end' in seen, timeout=1)
        assert seen == ['event', 'callback', 'turn end']
        loop.remove_reader(a)
    finally:
        a.close()
        b.close()


def test_a_turn_with_many_events_runs_its_turn_end_callbacks_in_batches(loop):
    """The first sockets' answers do not wait for the last socket's events."""
    from rhc.loop import TURN_END_BATCH
    pairs = [socket.socketpair() for _ in range(TURN_END_BATCH * 2)]
    order = []
    try:
        for index, (a, b) in enumerate(pairs):
            a.setblocking(False)
            b.send(b'x')

            def readable(a=a, index=index):
                a.recv(1)
                order.append(('event', index))
                loop.call_at_turn_end(lambda: order.append(('sent', index)))
            loop.add_reader(a, readable)
        assert loop.run_until(lambda: len(order) == 4 * TURN_END_BATCH, timeout=2)
        first_sent = order.index(next(item for item in order if item[0] == 'sent'))
        assert first_sent == TURN_END_BATCH     # after one batch of events, not after all
    finally:
        for a, b in pairs:
            loop.forget(a)
            a.close()
            b.close()
