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

from rhc.calls import Call

log = logging.getLogger('rhc.task')

_TAKES_TASK = {}        # code object -> bool: a signature is read once per function
_TAKES_TASK_SIZE = 4096


def takes_task(fn):
    """True when `fn`'s first parameter is named `task`.

    `inspect.signature` costs tens of microseconds, and `request.call` asks on
    every call, so the answer is kept per code object (bound methods and
    partials of one function share it).
    """
    code = getattr(getattr(fn, '__func__', fn), '__code__', None)
    if code is not None:
        known = _TAKES_TASK.get(code)
        if known is not None:
            return known
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False
    answer = next(iter(params), None) == 'task'
    if code is not None and len(_TAKES_TASK) < _TAKES_TASK_SIZE:
        _TAKES_TASK[code] = answer
    return answer


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
    task = Task(callback) if type(fn) is not Call and takes_task(fn) else None
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


def _start(callback, fn, args, kwargs):
    return invoke(fn, callback, args, kwargs)


def partial(fn):
    """Decorator: `fn(callback_or_task, *a, **kw)` -> `fn(*a, **kw)` returns a partial
    (an `rhc.Call`: start it with a callback, or `await` it)."""
    @functools.wraps(fn)
    def bind(*args, **kwargs):
        return Call(_start, fn, args, kwargs)
    return bind


def wrap(fn, *args, **kwargs):
    """A partial of `fn` with these arguments: `wrap(fn, 1)(callback)`, or `await wrap(fn, 1)`."""
    return Call(_start, fn, args, kwargs)


def call(callback, partial_fn):
    """Start a partial with `callback`; a raise becomes `callback(1, error)`."""
    try:
        return partial_fn(callback)
    except Exception as e:
        callback(1, e)
        return None
