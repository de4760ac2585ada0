"""A single-threaded event loop on `selectors`.

The loop only dispatches: readers and writers keyed by socket, callbacks
queued with `call_soon`, timers on a heap, and what waits for the end of a
turn (`call_at_turn_end`). Every callback runs inside
`_run_once`, where an exception is caught and logged, so nothing a handler
does can stop the loop. It knows nothing of HTTP.
"""
import collections
import contextlib
import heapq
import itertools
import logging
import os
import selectors
import signal
import socket
import threading
import time

log = logging.getLogger('rhc.loop')

# How late a coarse timer may fire (seconds). Timeouts of connections and calls
# are almost always cancelled before they are due, and seconds long: to within
# this they are kept in buckets, one heap timer a bucket, not one each.
COARSE = 0.05

# The most turn-end callbacks that wait while a turn's events are handled: past
# it they run at once, so a turn with many ready sockets sends its first
# answers without waiting for its last.
TURN_END_BATCH = 32

_EVENT_READ = selectors.EVENT_READ
_EVENT_WRITE = selectors.EVENT_WRITE


class Handle:
    """A scheduled callback; `cancel()` stops it from running."""
    __slots__ = ('fn', 'args', 'when', 'cancelled')

    def __init__(self, fn, args, when=0.0):
        self.fn = fn
        self.args = args
        self.when = when
        self.cancelled = False

    def cancel(self):
        self.cancelled = True


def _events(data):
    """The selector events a [reader, writer] pair asks for."""
    return (_EVENT_READ if data[0] is not None else 0) | (_EVENT_WRITE if data[1] is not None else 0)


class Loop:
    """Readers, writers, `call_soon`, `call_later`, and the one place they run."""

    # The clock every timer and timeout reads; a test loop may bring its own.
    time = staticmethod(time.monotonic)

    def __init__(self):
        self._selector = selectors.DefaultSelector()
        self._interests = {}      # socket -> [reader, writer], the selector key's data
        self._ready = collections.deque()
        self._timers = []         # a heap of (when, sequence, TimerHandle): compared in C
        self._sequence = itertools.count()
        self._cancelled_timers = 0
        self._buckets = {}        # slot -> {CoarseHandle: None}, for call_later_coarse
        self._stopping = False
        self.running = False
        self._waker_r, self._waker_w = socket.socketpair()
        self._waker_r.setblocking(False)
        self._waker_w.setblocking(False)
        self.add_reader(self._waker_r, self._drain_waker)
        self._signal_handlers = {}
        # What the callback running now works for (the server puts the request a
        # plain handler serves here): code it calls, such as an outbound call,
        # can tell whom it works for. The loop itself never reads it.
        self.handling = None
        self._turn_end = []


    # -- readers and writers ---------------------------------------------

    def add_reader(self, sock, callback):
        self._add(sock, _EVENT_READ, callback)

    def add_writer(self, sock, callback):
        self._add(sock, _EVENT_WRITE, callback)

    def remove_reader(self, sock):
        self._remove(sock, _EVENT_READ)

    def remove_writer(self, sock):
        self._remove(sock, _EVENT_WRITE)

    def _add(self, sock, event, callback):
        # The interests are kept here too, by socket, so that changing a
        # callback the selector already watches costs no selectors round trip.
        data = self._interests.get(sock)
        if data is None:
            data = [None, None]
            data[event - 1] = callback
            self._selector.register(sock, event, data)
            self._interests[sock] = data
            return
        watched = data[event - 1] is not None
        data[event - 1] = callback
        if not watched:
            self._selector.modify(sock, _events(data), data)

    def _remove(self, sock, event):
        data = self._interests.get(sock)
        if data is None or data[event - 1] is None:
            return
        data[event - 1] = None
        events = _events(data)
        if events:
            self._selector.modify(sock, events, data)
        else:
            del self._interests[sock]
            self._selector.unregister(sock)

    def forget(self, sock):
        """Drop every interest in `sock` (call before closing it)."""
        data = self._interests.pop(sock, None)
        if data is None:
            return
        data[0] = data[1] = None
        try:
            self._selector.unregister(sock)
        except (KeyError, ValueError):
            pass

    # -- callbacks and timers --------------------------------------------

    def call_soon(self, fn, *args):
        handle = Handle(fn, args)
        self._ready.append(handle)
        return handle

    def call_later(self, delay, fn, *args):
        when = self.time() + delay
        handle = TimerHandle(self, fn, args, when)
        heapq.heappush(self._timers, (when, next(self._sequence), handle))
        return handle

    def call_later_coarse(self, delay, fn, *args):
        """`call_later` for a timeout that is usually cancelled before it is due: it
        fires up to COARSE seconds late, and adding or cancelling it is a dict
        operation instead of a heap one."""
        slot = int((self.time() + delay) / COARSE) + 1
        bucket = self._buckets.get(slot)
        if bucket is None:
            bucket = self._buckets[slot] = {}
            self.call_later(slot * COARSE - self.time(), self._fire_bucket, slot)
        handle = CoarseHandle(bucket, fn, args, slot * COARSE)
        bucket[handle] = None
        return handle

    def _fire_bucket(self, slot):
        # A callback may cancel a later timer of the same bucket: walk a copy.
        run = self._run_callback
        for handle in list(self._buckets.pop(slot, ())):
            if not handle.cancelled:
                handle.fired = True
                run(handle.fn, handle.args)

    def call_soon_threadsafe(self, fn, *args):
        handle = self.call_soon(fn, *args)
        self.wake()
        return handle

    def wake(self):
        try:
            self._waker_w.send(b'\0')
        except OSError:
            pass

    def _drain_waker(self):
        try:
            while self._waker_r.recv(4096):
                pass
        except OSError:
            pass

    def _timer_cancelled(self):
        # A cancelled timer stays in the heap until its time comes; compact
        # when they dominate, so connections that re-arm timers cannot grow it.
        self._cancelled_timers += 1
        if self._cancelled_timers > 512 and self._cancelled_timers * 2 > len(self._timers):
            self._timers = [t for t in self._timers if not t[2].cancelled]
            heapq.heapify(self._timers)
            self._cancelled_timers = 0

    # -- signals ----------------------------------------------------------

    def add_signal_handler(self, signum, fn):
        """Run `fn()` on the loop when `signum` arrives (main thread only)."""
        if not self._signal_handlers:
            signal.set_wakeup_fd(self._waker_w.fileno(), warn_on_full_buffer=False)
        self._signal_handlers[signum] = signal.signal(signum, lambda *_: self.call_soon(fn))

    def remove_signal_handlers(self):
        for signum, previous in self._signal_handlers.items():
            signal.signal(signum, previous)
        if self._signal_handlers:
            signal.set_wakeup_fd(-1)
        self._signal_handlers = {}

    # -- running ----------------------------------------------------------

    def stop(self):
        """Make the current `run` or `run_until` return after this iteration."""
        self._stopping = True

    def run(self):
        self.run_until(lambda: False)

    def run_until(self, predicate, timeout=None):
        """Run until `predicate()` is true, `stop()` is called, or `timeout` passes.

        Returns `predicate()`'s last value. Nested calls are refused: a
        handler that waits would freeze every other connection.
        """
        if self.running:
            raise RuntimeError('the rhc loop is already running')
        deadline = None if timeout is None else time.monotonic() + timeout
        self.running = True
        self._stopping = False
        outer, _running.loop = _running.loop, self
        try:
            while True:
                done = predicate()
                if done or self._stopping:
                    return done
                wait = None
                if deadline is not None:
                    wait = deadline - time.monotonic()
                    if wait <= 0:
                        return done
                self._run_once(wait)
        finally:
            _running.loop = outer
            self.running = False
            self._stopping = False

    def call_at_turn_end(self, fn):
        """Run `fn()` once this turn's events and callbacks are handled.

        A transport sends what it gathered in a turn from here, with one
        system call; the peer is then woken once a turn, not once a write.
        """
        self._turn_end.append(fn)

    def _run_turn_end(self):
        turn_end = self._turn_end
        for fn in turn_end:     # one may add another (a resumed writer): it runs too
            self._run_callback(fn, ())
        turn_end.clear()

    def _run_once(self, max_wait):
        timers = self._timers
        turn_end = self._turn_end
        if self._ready or turn_end:
            timeout = 0
        elif timers:
            timeout = max(0.0, timers[0][0] - time.monotonic())
            if max_wait is not None:
                timeout = min(timeout, max_wait)
        else:
            timeout = max_wait
        try:
            events = self._selector.select(timeout)
        except InterruptedError:
            events = ()
        for key, mask in events:
            reader, writer = key.data
            # The one place socket callbacks run (the per-event try costs
            # nothing until something raises).
            try:
                if mask & _EVENT_READ and reader is not None:
                    reader()
                # The reader may have removed the writer or closed the socket.
                if mask & _EVENT_WRITE and writer is not None and key.data[1] is writer:
                    writer()
            except (KeyboardInterrupt, SystemExit):
                raise
            except BaseException:
                log.exception('callback for fd %s failed', key.fd)
            if len(turn_end) >= TURN_END_BATCH:
                self._run_turn_end()
        run = self._run_callback
        if timers:
            now = time.monotonic()
            while timers and timers[0][0] <= now:
                handle = heapq.heappop(timers)[2]
                if handle.cancelled:
                    self._cancelled_timers = max(0, self._cancelled_timers - 1)
                else:
                    handle.fired = True
                    self._ready.append(handle)
        ready = self._ready
        for _ in range(len(ready)):
            handle = ready.popleft()
            if not handle.cancelled:
                run(handle.fn, handle.args)
        if turn_end:
            self._run_turn_end()

    @staticmethod
    def _run_callback(fn, args):
        try:
            fn(*args)
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException:
            log.exception('callback %r failed', fn)

    def discard(self):
        """Close every socket still watched but the waker, and cancel every timer.

        For a loop about to be thrown away (a test client's): what it still
        watches or has scheduled then (idle pooled connections and their
        reaper, say) could never run again.
        """
        for sock in [s for s in self._interests if s is not self._waker_r]:
            self.forget(sock)
            try:
                sock.close()
            except OSError:
                pass
        for _, _, handle in self._timers:
            handle.cancel()
        self._buckets.clear()
        self._timers = []
        self._cancelled_timers = 0
        self._ready.clear()
        self._turn_end.clear()

    def close(self):
        self.remove_signal_handlers()
        self._selector.close()
        self._waker_r.close()
        self._waker_w.close()


class TimerHandle(Handle):
    __slots__ = ('loop', 'fired')

    def __init__(self, loop, fn, args, when):
        self.fn = fn
        self.args = args
        self.when = when
        self.cancelled = False
        self.loop = loop
        self.fired = False

    def cancel(self):
        if self.cancelled:
            return
        self.cancelled = True
        if not self.fired:      # still in the heap (once due, it waits in the ready queue)
            self.loop._timer_cancelled()


class CoarseHandle(Handle):
    """A `call_later_coarse` timer: cancelling takes it out of its bucket."""
    __slots__ = ('bucket', 'fired')

    def __init__(self, bucket, fn, args, when):
        self.fn = fn
        self.args = args
        self.when = when
        self.cancelled = False
        self.bucket = bucket
        self.fired = False

    def cancel(self):
        self.cancelled = True
        self.bucket.pop(self, None)


_default = None
_in_use = None      # the loop `use()` made current for a while, if any


class _Running(threading.local):
    loop = None     # the loop running in this thread, if one is


_running = _Running()


def get_loop():
    """The loop running in this thread, else the one `use()` made current, else the
    process's loop, made on first use.

    So code called from a handler (a Connection, a Future, a timer) lands on
    the loop serving it, an in-process test client's code on its own loop,
    and `rhc.wait` and notebooks share the default one.
    """
    global _default
    loop = _running.loop
    if loop is not None:
        return loop
    if _in_use is not None:
        return _in_use
    if _default is None:
        _default = Loop()
    return _default


def reset_default():
    """Close and forget the process's loop; the next `get_loop()` makes a new one."""
    global _default
    if _default is not None:
        _default.close()
        _default = None


@contextlib.contextmanager
def use(loop):
    """Make `get_loop()` return `loop` inside the `with` block.

    What a service's code schedules through `get_loop()` (timers, calls,
    coroutines) then lands on `loop`: an in-process test client runs its
    own loop this way, and its handlers see it as launched ones see theirs.
    """
    global _in_use
    previous, _in_use = _in_use, loop
    try:
        yield loop
    finally:
        _in_use = previous


def _reset_after_fork():
    global _default, _in_use
    _default = None
    _in_use = None


os.register_at_fork(after_in_child=_reset_after_fork)
