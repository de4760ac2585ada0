"""Leaving the loop: blocking functions on a thread pool, asyncio coroutines on asyncio.

Both return an rhc Future that the other thread settles through
`loop.call_soon_threadsafe`, the one thread-safe way into the loop, so the
awaiting coroutine resumes on the loop. The pool and the asyncio thread are
made on first use and forgotten in a forked child (their threads do not
survive a fork).
"""
import contextvars
import os
import threading

from rhc.future import _PENDING, Future, running_task

_lock = threading.Lock()
_pool = None
_asyncio_loop = None


def pool_size():
    """How many threads `to_thread` may use at once."""
    return min(32, (os.cpu_count() or 1) + 4)


class _Outside(Future):
    """A Future settled by work on another thread; cancelling it lets the work go."""
    __slots__ = ('_work',)

    def cancel(self):
        if not Future.cancel(self):
            return False
        # A job still queued never starts, an asyncio task is cancelled; a
        # function already running on a thread cannot be stopped: its result is dropped.
        self._work.cancel()
        return True


def _settle(future, work):
    if future._state != _PENDING:
        return
    if work.cancelled():
        Future.cancel(future)
    elif work.exception() is not None:
        future.set_exception(work.exception())
    else:
        future.set_result(work.result())


def _hand_back(future, work):
    """Settle `future` on its loop once the concurrent.futures `work` is done."""
    future._work = work
    loop = future._loop
    work.add_done_callback(lambda work: loop.call_soon_threadsafe(_settle, future, work))
    return future


def _thread_pool():
    global _pool
    with _lock:
        if _pool is None:
            from concurrent.futures import ThreadPoolExecutor
            _pool = ThreadPoolExecutor(max_workers=pool_size(), thread_name_prefix='rhc-thread')
        return _pool


def to_thread(fn, /, *args, **kwargs):
    """Run blocking `fn(*args, **kwargs)` on the pool; a Future of its result.

    It runs in a copy of the caller's context (so a request id set in a
    contextvar is still there), but outside any task. Cancelling the Future
    drops the result.
    """
    future = _Outside()
    context = contextvars.copy_context()
    context.run(running_task.set, None)
    return _hand_back(future, _thread_pool().submit(context.run, fn, *args, **kwargs))


def _asyncio_thread_loop():
    global _asyncio_loop
    with _lock:
        if _asyncio_loop is None:
            import asyncio
            loop = asyncio.new_event_loop()
            threading.Thread(target=loop.run_forever, name='rhc-asyncio', daemon=True).start()
            _asyncio_loop = loop
        return _asyncio_loop


def from_asyncio(coroutine):
    """Run an asyncio coroutine on rhc's asyncio helper thread; a Future of its outcome.

    Cancelling the Future cancels the asyncio task.
    """
    import asyncio
    if not asyncio.iscoroutine(coroutine):
        raise TypeError(f'from_asyncio needs an asyncio coroutine, not {coroutine!r}')
    future = _Outside()
    return _hand_back(future, asyncio.run_coroutine_threadsafe(coroutine, _asyncio_thread_loop()))


def _forget_after_fork():
    global _lock, _pool, _asyncio_loop
    _lock = threading.Lock()
    _pool = None
    _asyncio_loop = None


os.register_at_fork(after_in_child=_forget_after_fork)
