"""Running the process's loop: `wait` for one call or coroutine, or `run` until stopped."""
from rhc.coroutine import run_until_complete
from rhc.errors import CallError
from rhc.loop import get_loop


def wait(partial, timeout=None):
    """Run the loop until `partial` (or a coroutine) completes; return its result or raise.

    Every server loaded in the process is served meanwhile. After `timeout`
    seconds, the call is cancelled (an outbound call's socket is closed and
    its callback never runs; a coroutine gets `rhc.Cancelled` at its await)
    and `CallError('timeout')` is raised.
    """
    if not callable(partial):       # a coroutine, a Future, anything awaitable
        return run_until_complete(partial, timeout)
    outcome = []
    loop = get_loop()

    def done(rc, result):
        if not outcome:
            outcome.append((rc, result))
    try:
        handle = partial(done)
    except Exception as e:
        raise e if isinstance(e, CallError) else CallError(f'{type(e).__name__}: {e}') from e
    if not outcome:
        loop.run_until(lambda: outcome, timeout)
    if not outcome:
        outcome.append(None)    # whatever the call reports later is dropped
        cancel = getattr(handle, 'cancel', None)
        if cancel is not None:
            cancel()
        raise CallError('timeout')
    rc, result = outcome[0]
    if rc == 0:
        return result
    if isinstance(result, BaseException):
        raise result
    raise CallError(str(result))


def run():
    """Serve until `stop()` is called or Ctrl-C."""
    try:
        get_loop().run()
    except KeyboardInterrupt:
        pass


def stop():
    get_loop().stop()
