"""Composing async callables: `fn(callback, *args, **kwargs)` and `callback(rc, result)`.

An async callable reports once through `callback(rc, result)`: `rc == 0` and
the result, or `rc != 0` and the error. A callable whose first parameter is
*named* `task` is given a `Task` instead of the bare callback, as the
original rhc did, so lower-level logic can `task.respond(...)`,
`task.error(...)` or `task.call(...)` without knowing about HTTP.
"""
import functools
import inspect
import logging

from rhc.errors import CallError, HTTPError
from rhc.request import to_response

log = logging.getLogger('rhc.task')


def takes_task(fn):
    """True when `fn`'s first parameter is named `task`."""
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False
    return next(iter(params), None) == 'task'


def _as_args(args):
    if args is None:
        return ()
    if isinstance(args, (tuple, list)):
        return tuple(args)
    return (args,)


def invoke(fn, callback, args=None, kwargs=None):
    """Start `fn` with `callback` (or a Task around it); a raise becomes `(1, error)`.

    Returns a handle whose `cancel()` abandons the call: the Task, or what
    `fn` returned (a client call returns its exchange).
    """
    task = Task(callback) if takes_task(fn) else None
    try:
        handle = fn(task or callback, *_as_args(args), **(kwargs or {}))
    except Exception as e:
        log.debug('async callable %r raised', fn, exc_info=True)
        callback(1, e)
        return None
    return task or handle


class Task:
    """A callback with a memory: responds once, and can chain further calls."""

    def __init__(self, callback, cid=None):
        self._callback = callback
        self.cid = cid
        self.is_done = False
        self._pending = None    # the handle of the call `task.call` has running

    def callback(self, rc, result):
        if self.is_done:
            return
        self.is_done = True
        self._pending = None
        callback, self._callback = self._callback, None
        callback(rc, result)

    def cancel(self):
        """Abandon the task: the call it is waiting on is cancelled, and it never reports."""
        if self.is_done:
            return
        self.is_done = True
        pending, self._pending = self._pending, None
        self._callback = None
        cancel = getattr(pending, 'cancel', None)
        if cancel is not None:
            cancel()

    def respond(self, result, rc=0):
        self.callback(rc, result)

    def error(self, message):
        self.callback(1, message)

    def call(self, fn, args=None, kwargs=None, on_success=None, on_none=None,
             on_error=None, on_timeout=None):
        """Run `fn`; route its outcome to the `on_*` hooks, else pass it up."""
        def done(rc, result):
            try:
                if rc == 0:
                    if result is None and on_none is not None:
                        return on_none(self, result)
                    if on_success is not None:
                        return on_success(self, result)
                    return self.respond(result)
                if on_timeout is not None and str(result) == 'timeout':
                    return on_timeout(self, result)
                if on_error is not None:
                    return on_error(self, result)
                self.error(result)
            except Exception as e:
                log.exception('task %s: a call hook failed', self.cid)
                self.error(e)
        handle = invoke(fn, done, args, kwargs)
        if not self.is_done:
            self._pending = handle
        return handle


def partial(fn):
    """Decorator: `fn(callback_or_task, *a, **kw)` -> `fn(*a, **kw)` returns a partial."""
    @functools.wraps(fn)
    def bind(*args, **kwargs):
        return functools.partial(invoke, fn, args=args, kwargs=kwargs)
    return bind


def wrap(fn, *args, **kwargs):
    """A partial of `fn` with these arguments: `wrap(fn, 1)(callback)`."""
    return functools.partial(invoke, fn, args=args, kwargs=kwargs)


def call(callback, partial_fn):
    """Start a partial with `callback`; a raise becomes `callback(1, error)`."""
    try:
        return partial_fn(callback)
    except Exception as e:
        callback(1, e)
        return None


def call_for_request(request, fn, args, kwargs, on_success, on_success_code, on_error,
                     on_none, on_none_404):
    """`request.call`: answer `request` from the outcome of an async callable."""
    from rhc.dispatch import fail

    def done(rc, result):
        try:
            if rc == 0:
                if result is None and on_none is not None:
                    return on_none(request, result)
                if result is None and on_none_404:
                    return request.respond(404, {'error': 'not found'})
                if on_success is not None:
                    answer = on_success(request, result)
                    if answer is not None and not request.is_responded:
                        status, content, headers = to_response(answer)
                        request.respond(status, content, headers)
                    return
                return request.respond(on_success_code or 200, result)
            if on_error is not None:
                return on_error(request, result)
            if isinstance(result, HTTPError):
                return request.respond(result.status, result.document())
            raise result if isinstance(result, Exception) else CallError(str(result))
        except HTTPError as e:
            request.respond(e.status, e.document())
        except Exception:
            fail(request, 'async call %s failed' % getattr(fn, '__name__', fn))
    invoke(fn, done, args, kwargs)
