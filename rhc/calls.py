"""Call: an async callable bound to its arguments, for a callback or for `await`.

    call = Call(fn, 1, x=2)
    call(callback)      # fn(callback, 1, x=2); callback(rc, result) reports once
    result = await call # starts it; returns the result or raises the error

What `fn` returns is a handle; if it has `.cancel()`, cancelling the task
that awaits the call calls it, so an outbound call's socket gets closed.
"""
from rhc.errors import CallError
from rhc.future import _PENDING, Cancelled, Future


class Call:
    """`fn(callback, *args, **kwargs)` waiting to be started."""
    __slots__ = ('fn', 'args', 'kwargs')

    def __init__(self, fn, /, *args, **kwargs):
        self.fn = fn
        self.args = args
        self.kwargs = kwargs

    def __repr__(self):
        return f'Call({getattr(self.fn, "__qualname__", self.fn)!s}, {self.args!r}, {self.kwargs!r})'

    def __call__(self, callback):
        """Start the call; `callback(rc, result)` gets its outcome. Returns fn's handle."""
        return self.fn(callback, *self.args, **self.kwargs)

    def __await__(self):
        future = Future()

        def settle(rc, result):
            if future._state != _PENDING:       # a second report, or one after cancellation
                return
            if rc == 0:
                future.set_result(result)
            elif isinstance(result, BaseException):
                future.set_exception(result)
            else:
                future.set_exception(CallError(str(result)))
        handle = self(settle)
        if future._state != _PENDING:         # it answered at once: no loop round trip
            return future.result()
        try:
            yield future
            return future.result()
        except Cancelled:
            cancel = getattr(handle, 'cancel', None)
            if cancel is not None:
                cancel()
            raise
