"""A Future: one outcome, settled once, awaited by coroutines on rhc's loop.

Callback code hands a value to a coroutine through a Future: it calls
`set_result` or `set_exception`, and the task awaiting it resumes on the
next loop turn. `__await__` yields the future itself; that is how a task
(rhc/coroutine.py) learns what to wait for.
"""
import contextvars

from rhc.loop import get_loop

_PENDING = 0
_DONE = 1
_CANCELLED = 2

# The task whose step is running now; each task sets it once, in its own
# context, so reading it costs one lookup and no step has to set it.
running_task = contextvars.ContextVar('rhc_running_task')


class Cancelled(BaseException):
    """Raised at a coroutine's `await` when its task is cancelled.

    A BaseException, so that `except Exception` in a handler does not
    swallow a cancellation.
    """


def current_loop():
    """The loop of the task running now, else the process's default loop."""
    task = running_task.get(None)
    return get_loop() if task is None else task._loop


class Future:
    """An outcome to come: a result, an exception, or cancellation.

    Not thread-safe: settle it on its loop (from another thread, use
    `loop.call_soon_threadsafe(future.set_result, value)`).
    """
    __slots__ = ('_loop', '_state', '_result', '_exception', '_traceback', '_callbacks')

    def __init__(self, loop=None):
        self._loop = current_loop() if loop is None else loop
        self._state = _PENDING
        self._result = None
        self._exception = None
        self._traceback = None
        self._callbacks = None

    @property
    def loop(self):
        return self._loop

    def __repr__(self):
        return f'<{type(self).__name__} {self._describe()}>'

    def _describe(self):
        if self._state != _DONE:
            return 'pending' if self._state == _PENDING else 'cancelled'
        if self._exception is not None:
            return f'exception={self._exception!r}'
        return f'result={self._result!r}'

    # -- reading ------------------------------------------------------------

    def done(self):
        return self._state != _PENDING

    def cancelled(self):
        return self._state == _CANCELLED

    def result(self):
        """The result; raises the exception, `Cancelled`, or RuntimeError if not done."""
        if self._state == _DONE:
            if self._exception is not None:
                raise self._exception.with_traceback(self._traceback)
            return self._result
        if self._state == _CANCELLED:
            raise Cancelled()
        raise RuntimeError(f'{self!r} is not done yet')

    def exception(self):
        """The exception (None after a result); raises `Cancelled` or RuntimeError like `result()`."""
        if self._state == _DONE:
            return self._exception
        if self._state == _CANCELLED:
            raise Cancelled()
        raise RuntimeError(f'{self!r} is not done yet')

    # -- settling -----------------------------------------------------------

    def set_result(self, result):
        if self._state != _PENDING:
            raise RuntimeError(f'{self!r} is already done')
        self._result = result
        self._state = _DONE
        self._schedule_callbacks()

    def set_exception(self, exception):
        if self._state != _PENDING:
            raise RuntimeError(f'{self!r} is already done')
        if isinstance(exception, type):
            exception = exception()
        if not isinstance(exception, BaseException):
            raise TypeError(f'set_exception needs an exception, not {exception!r}')
        if isinstance(exception, StopIteration):
            # Raised inside a coroutine it would turn into a RuntimeError.
            raise TypeError('StopIteration cannot be raised into a coroutine')
        self._exception = exception
        self._traceback = exception.__traceback__
        self._state = _DONE
        self._schedule_callbacks()

    def cancel(self):
        """Cancel a pending future; False if it was already done."""
        if self._state != _PENDING:
            return False
        self._state = _CANCELLED
        self._schedule_callbacks()
        return True

    # -- callbacks ----------------------------------------------------------

    def add_done_callback(self, fn):
        """Run `fn(future)` on the loop once done (on the next turn if done already)."""
        if self._state != _PENDING:
            self._loop.call_soon(fn, self)
        elif self._callbacks is None:
            self._callbacks = [fn]
        else:
            self._callbacks.append(fn)

    def remove_done_callback(self, fn):
        """Forget every registration of `fn`; returns how many there were."""
        callbacks = self._callbacks
        if not callbacks:
            return 0
        kept = [f for f in callbacks if f != fn]
        self._callbacks = kept or None
        return len(callbacks) - len(kept)

    def _schedule_callbacks(self):
        callbacks = self._callbacks
        if callbacks:
            self._callbacks = None
            call_soon = self._loop.call_soon
            for fn in callbacks:
                call_soon(fn, self)

    # -- awaiting -----------------------------------------------------------

    def __await__(self):
        if self._state == _PENDING:
            yield self          # the task resumes us once we are done
        return self.result()
