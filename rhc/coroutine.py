"""Tasks: coroutines driven by rhc's own loop, one step per loop callback.

A task sends into its coroutine until the coroutine yields. An rhc Future
means "resume me when it is done"; None (a bare yield) means "resume me on
the next loop turn". Anything else came from another event loop (an asyncio
future, a trio trap) and is thrown back into the coroutine as a TypeError
naming `rhc.from_asyncio`: it fails loudly instead of hanging.

Each task runs every step inside its own `contextvars.Context`, copied when
it is made, so context variables set in one task never leak into another.
"""
import contextvars
import itertools
import logging
from collections.abc import Coroutine
from types import CoroutineType

from rhc.errors import CallError
from rhc.future import _PENDING, Cancelled, Future, current_loop, running_task
from rhc.loop import get_loop

log = logging.getLogger('rhc.task')

# How long run_until_complete lets a timed-out coroutine run its finally blocks.
CANCEL_GRACE = 1.0

_FOREIGN = ('rhc cannot await {}: asyncio and trio code needs its own event loop. '
            'Run asyncio code with `await rhc.from_asyncio(coroutine)`.')

_names = itertools.count(1)


class Task(Future):
    """A Future whose outcome is its coroutine's: what it returns or raises.

    `eager=True` runs the first step inside the constructor, so a coroutine
    that never awaits is done before the constructor returns, with no loop
    round trip. `cancel()` raises `Cancelled` at the coroutine's current (or
    next) `await` and cancels what it waits on; a coroutine that catches it
    and returns ends normally.
    """
    # `_context` is dropped once the coroutine ends: it holds the task (and a server's
    # request, which holds the task), a cycle only the collector would free.
    __slots__ = ('_coro', '_resume', '_context', '_waiting', '_must_cancel', '_name')
    _log_unobserved = False

    def __init__(self, coro, loop=None, eager=False, name=None):
        if type(coro) is not CoroutineType and not isinstance(coro, Coroutine):
            raise TypeError(f'a Task needs a coroutine, not {coro!r}')
        super().__init__(loop)
        self._coro = coro
        self._resume = coro.send    # bound once: each step is one call
        self._waiting = None
        self._must_cancel = False
        self._name = name
        context = self._context = contextvars.copy_context()
        context.run(running_task.set, self)
        if eager:
            context.run(self._step)
        else:
            self._loop.call_soon(context.run, self._step)

    @classmethod
    def adopt(cls, coro, context, yielded, loop=None):
        """A task for a coroutine whose first step already ran in `context` and
        yielded `yielded`: what a handler that awaits becomes (one that never
        awaits needs no task at all)."""
        task = cls.__new__(cls)
        Future.__init__(task, loop)
        task._coro = coro
        task._resume = coro.send
        task._waiting = None
        task._must_cancel = False
        task._name = None
        task._context = context
        context.run(running_task.set, task)
        task._wait_on(yielded)
        return task

    @property
    def name(self):
        """The name given, else 'Task-N' (numbered when first asked for)."""
        if self._name is None:
            self._name = f'Task-{next(_names)}'
        return self._name

    def __repr__(self):
        return f'<{type(self).__name__} {self.name} {self._describe()}>'

    def set_result(self, result):
        raise RuntimeError("a task's outcome comes from its coroutine")

    set_exception = set_result

    def cancel(self):
        """Ask the coroutine to stop: True unless the task is already done."""
        if self._state != _PENDING:
            return False
        self._must_cancel = True
        if self._waiting is not None:
            self._waiting.cancel()
        return True

    def _step(self, error=None):
        if self._must_cancel:
            self._must_cancel = False
            if not isinstance(error, Cancelled):
                error = Cancelled()
        try:
            if error is None:
                yielded = self._resume(None)
            else:
                yielded = self._coro.throw(error)
        except StopIteration as stop:
            self._context = None
            Future.set_result(self, stop.value)
        except Cancelled:
            self._context = None
            Future.cancel(self)
        except (KeyboardInterrupt, SystemExit) as e:
            self._context = None
            Future.set_exception(self, e)
            raise
        except BaseException as e:
            self._context = None
            self._fail(e)
        else:
            self._wait_on(yielded)
        finally:
            self = None     # the traceback holds this frame: do not let it hold the task too

    def _wait_on(self, yielded):
        if yielded is None:
            self._loop.call_soon(self._context.run, self._step)
            return
        if isinstance(yielded, Future):
            if yielded is self:
                error = RuntimeError(f'{self!r} cannot await itself')
            elif yielded._loop is not self._loop:
                error = RuntimeError(f'{self!r} awaited {yielded!r}, which belongs to another rhc loop')
            else:
                self._waiting = yielded
                yielded.add_done_callback(self._wakeup)
                if self._must_cancel:       # cancelled during this very step
                    yielded.cancel()
                return
        else:
            error = TypeError(_FOREIGN.format(repr(yielded)))
        self._loop.call_soon(self._context.run, self._step, error)

    def _wakeup(self, future):
        # Future.__await__ reads the outcome itself when resumed.
        self._waiting = None
        self._context.run(self._step)

    def _fail(self, error):
        error = explained(error)
        unobserved = not self._callbacks
        Future.set_exception(self, error)
        if unobserved and self._log_unobserved:
            log.error('background task %s failed', self.name, exc_info=error)


def explained(error):
    """`error`, or a TypeError naming `rhc.from_asyncio` when asyncio code (asyncio.sleep,
    asyncio.get_running_loop) asked for its loop on rhc's and found none."""
    if isinstance(error, RuntimeError) and str(error) == 'no running event loop':
        foreign = TypeError(_FOREIGN.format('asyncio code'))
        foreign.__cause__ = error
        return foreign
    return error


class BackgroundTask(Task):
    """A task made by `spawn`: an error nobody waits for is logged, not lost."""
    __slots__ = ()
    _log_unobserved = True


def current_task():
    """The task whose coroutine is running now, or None in callback code."""
    return running_task.get(None)


async def _await(awaitable):
    return await awaitable


def as_coroutine(awaitable):
    """A coroutine that awaits `awaitable`; TypeError if it cannot be awaited."""
    if isinstance(awaitable, Coroutine):
        return awaitable
    if hasattr(type(awaitable), '__await__'):
        return _await(awaitable)
    raise TypeError(f'{awaitable!r} is not awaitable: rhc awaits coroutines, '
                    'rhc Futures and rhc calls')


def ensure_future(awaitable, loop=None):
    """A Future for `awaitable`: a Future is itself, anything else runs in a Task."""
    if isinstance(awaitable, Future):
        return awaitable
    return Task(as_coroutine(awaitable), loop)


def spawn(coroutine, loop=None, name=None):
    """Start `coroutine` in the background (on the next loop turn); returns its Task.

    Await it or add a done callback before it can finish, or an exception
    it ends with is logged (logger 'rhc.task') with its traceback.
    """
    return BackgroundTask(as_coroutine(coroutine), loop, name=name)


def _observe(task):
    pass


def run_until_complete(awaitable, timeout=None, loop=None):
    """Run `loop` until `awaitable` is done; return its result or raise its exception.

    After `timeout` seconds (or when the loop is stopped) the task is
    cancelled, given CANCEL_GRACE seconds to run its finally blocks, and
    CallError('timeout') is raised.
    """
    loop = get_loop() if loop is None else loop
    if loop.running:
        raise RuntimeError('the rhc loop is already running: await this instead of waiting for it')
    task = ensure_future(awaitable, loop)
    task.add_done_callback(_observe)
    try:
        loop.run_until(task.done, timeout)
    except BaseException:       # Ctrl-C in a notebook: do not leave the coroutine behind
        task.cancel()
        raise
    if not task.done():
        task.cancel()
        loop.run_until(task.done, CANCEL_GRACE)
        raise CallError('timeout')
    return task.result()


__all__ = ['Task', 'BackgroundTask', 'current_task', 'current_loop', 'ensure_future', 'spawn',
           'run_until_complete', 'CANCEL_GRACE']
