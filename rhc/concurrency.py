"""Waiting on time and on several things at once: `sleep`, `gather`, `wait_for`.

`sleep` and `gather` return Futures, so they cost no task when awaited
directly; `wait_for` is a coroutine because it must outlive a cancellation
to turn it into `CallError('timeout')`.
"""
from rhc.coroutine import ensure_future
from rhc.errors import CallError
from rhc.future import _PENDING, Cancelled, Future, current_loop


class _Sleep(Future):
    """A Future a timer settles; cancelling it cancels the timer.

    The timer's arguments hold the future, so the future lets go of the timer
    once either is done: else each sleep would leave a cycle for the collector.
    """
    __slots__ = ('_timer',)

    def cancel(self):
        if not Future.cancel(self):
            return False
        timer, self._timer = self._timer, None
        timer.cancel()
        return True


def _wake(future, result):
    future._timer = None
    if future._state == _PENDING:
        Future.set_result(future, result)


def sleep(seconds, result=None):
    """A Future done with `result` after `seconds` (awaiting it suspends only this coroutine)."""
    future = _Sleep()
    future._timer = future._loop.call_later(max(0.0, seconds), _wake, future, result)
    return future


class _Gathering(Future):
    """The outcome of several awaitables, in order; cancelling it cancels them all."""
    __slots__ = ('_children', '_pending', '_return_exceptions', '_cancelling')

    def __init__(self, children, return_exceptions):
        super().__init__()
        self._children = children
        self._pending = len(children)
        self._return_exceptions = return_exceptions
        self._cancelling = False
        if not children:
            self.set_result([])
        for child in children:
            child.add_done_callback(self._child_done)

    def cancel(self):
        """Cancel every child; this ends cancelled once they have all finished."""
        if self._state != _PENDING or self._cancelling:
            return False
        self._cancelling = True
        self._cancel_children()
        if self._pending == 0:
            Future.cancel(self)
        return True

    def _cancel_children(self):
        for child in self._children:
            child.cancel()

    def _child_done(self, child):
        self._pending -= 1
        if self._state != _PENDING:
            return
        if not (self._cancelling or self._return_exceptions):
            failed = child.cancelled() or child._exception is not None
            if failed:      # the first failure is the gather's, and stops the rest
                if child.cancelled():
                    Future.cancel(self)
                else:
                    self.set_exception(child._exception)
                self._cancel_children()
                return
        if self._pending:
            return
        if self._cancelling:
            Future.cancel(self)
        else:
            self.set_result([_outcome(c) for c in self._children])


def _outcome(child):
    if child.cancelled():
        return Cancelled()
    return child._exception if child._exception is not None else child._result


def gather(*awaitables, return_exceptions=False):
    """Run `awaitables` concurrently; a Future of their results, in order.

    The first exception (or cancellation) among them becomes the gather's
    and cancels the rest, unless `return_exceptions`, which puts exceptions
    in the results instead. Cancelling the gather cancels them all.
    """
    loop = current_loop()
    children = [ensure_future(a, loop) for a in awaitables]
    return _Gathering(children, return_exceptions)


async def wait_for(awaitable, seconds):
    """Await `awaitable` for at most `seconds`; then cancel it and raise CallError('timeout').

    The awaitable's cancellation runs to its end (its finally blocks) before
    the timeout is raised. `seconds=None` waits for ever.
    """
    inner = ensure_future(awaitable, current_loop())
    if seconds is None:
        return await inner
    expired = []

    def expire():
        expired.append(True)
        inner.cancel()
    timer = inner._loop.call_later(max(0.0, seconds), expire)
    try:
        result = await inner
    except Cancelled:
        if expired:
            raise CallError('timeout') from None
        raise
    finally:
        timer.cancel()
    if expired:     # it caught the cancellation and returned anyway
        raise CallError('timeout')
    return result
