"""HEALTH and READY: what a process tells a load balancer or an orchestrator.

Both are built-in routes (`Router.add_builtin`): exact paths answered before
any ROUTE, without AUTH, silent in the access log even when READY answers
503, with bodies made once. HEALTH is answered on the loop, so a handler
that blocks the loop fails it (the liveness probe times out). READY reads
the service's one `Readiness`, shared by its servers, and, while that says
ready, the READY line's `check`.

An `async def` check makes the READY answer a coroutine handler, run by
dispatch like any other: it awaits the check (bounded by CHECK_TIMEOUT),
and a client that hangs up meanwhile cancels it. Starting and draining are
answered without calling the check, in the coroutine's first step.
"""
import json
import logging

from rhc.concurrency import wait_for
from rhc.coroutine import explained
from rhc.errors import CallError
from rhc.routing import ALWAYS, is_async

log = logging.getLogger('rhc.probes')

# How long an async check may run before its probe answers 503 failing and it
# is cancelled (an outbound call it awaits is closed). Below a Connection's
# default timeout (5 s), so a dependency that never answers is cut off here; a
# balancer whose own probe timeout is shorter hangs up first, and that cancels
# the check too.
CHECK_TIMEOUT = 3.0

STARTING, READY, DRAINING, FAILING = 'starting', 'ready', 'draining', 'failing'
HEADERS = {'Content-Type': 'application/json; charset=utf-8', 'Cache-Control': 'no-store'}


def _answer(status, word):
    return status, json.dumps({'status': word}).encode(), HEADERS


HEALTHY = _answer(200, 'ok')
ANSWERS = {STARTING: _answer(503, STARTING), READY: _answer(200, READY),
           DRAINING: _answer(503, DRAINING), FAILING: _answer(503, FAILING)}


class Readiness:
    """Where the service is in its life, as READY reports it: starting, ready, draining.

    The hooks the rest of rhc calls: `ready()` once SETUP has run (an async
    SETUP calls it when it completes), `draining()` at the first stop signal,
    and `on_ready(fn)`, which runs `fn` once ready (at once if it is already):
    how a worker tells its master it may take traffic.
    """

    def __init__(self):
        self.state = STARTING
        self._waiting = []

    @property
    def is_ready(self):
        return self.state == READY

    def starting(self):
        """Back to starting (only from ready: a drain is never undone)."""
        if self.state == READY:
            self.state = STARTING

    def ready(self):
        if self.state != STARTING:
            return
        self.state = READY
        waiting, self._waiting = self._waiting, []
        for fn in waiting:
            fn()

    def draining(self):
        self.state = DRAINING

    def on_ready(self, fn):
        if self.state == READY:
            fn()
        elif self.state == STARTING:
            self._waiting.append(fn)


class Check:
    """A READY line's `check=`: called with no arguments on every probe while ready.

    Falsy or raising means failing; so does an async check still running
    after CHECK_TIMEOUT seconds. A change of outcome is logged once, not on
    every probe: a balancer asks many times a second.
    """

    def __init__(self, fn, name):
        self.fn = fn
        self.name = name
        self.passing = True
        self.is_async = is_async(fn)

    def passes(self):
        try:
            ok = bool(self.fn())
            error = None
        except Exception as e:
            ok, error = False, e
        return self._outcome(ok, error)

    async def passes_async(self):
        """Await the check for at most CHECK_TIMEOUT seconds. `rhc.Cancelled` (the
        client hung up, or the grace period ran out) goes through: nothing is answered."""
        timeout = CHECK_TIMEOUT
        try:
            ok, error = await wait_for(self._awaited(), timeout)
        except CallError:       # only wait_for's: _awaited raises nothing else
            return self._outcome(False, timeout=timeout)
        return self._outcome(ok, error)

    async def _awaited(self):
        """(outcome, None), or (False, what the check raised)."""
        try:
            return bool(await self.fn()), None
        except Exception as e:
            return False, explained(e)

    def _outcome(self, ok, error=None, timeout=None):
        if ok != self.passing:
            self.passing = ok
            if ok:
                log.info('READY check %s passes again', self.name)
            elif timeout is not None:
                log.warning('READY check %s did not finish within %gs; cancelled', self.name, timeout)
            elif error is not None:
                log.warning('READY check %s raised %s: %s', self.name, type(error).__name__, error)
            else:
                log.warning('READY check %s fails', self.name)
        return ok


def health(request):
    return HEALTHY


def ready_answer(readiness, check=None):
    """The READY handler: the state, or `failing` when ready but the check fails.

    For an async check the handler is a coroutine function, so dispatch runs
    it as a task (only once it awaits the check) that the connection cancels.
    """
    if check is not None and check.is_async:
        async def answer(request):
            if readiness.state != READY:
                return ANSWERS[readiness.state]
            ok = await check.passes_async()
            state = readiness.state     # a drain may have begun while the check ran
            return ANSWERS[FAILING if state == READY and not ok else state]
        return answer

    def answer(request):
        state = readiness.state
        if state == READY and check is not None and not check.passes():
            state = FAILING
        return ANSWERS[state]
    return answer


def install(router, server, readiness, check_fn=None):
    """Serve the HEALTH and READY lines of `server` (a micro model Server) on `router`.

    `check_fn` is READY's resolved `check`, a plain or an `async def` function.
    Returns the ROUTE patterns the probe paths hide; ValueError for a path
    another built-in serves.
    """
    hidden = []
    if server.health is not None:
        hidden += router.add_builtin(server.health.path, health, 'the HEALTH probe', ALWAYS)
    if server.ready is not None:
        check = Check(check_fn, server.ready.check) if check_fn is not None else None
        hidden += router.add_builtin(server.ready.path, ready_answer(readiness, check),
                                     'the READY probe', ALWAYS)
    return hidden
