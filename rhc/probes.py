"""HEALTH and READY: what a process tells a load balancer or an orchestrator.

Both are built-in routes (`Router.add_builtin`): exact paths answered before
any ROUTE, without AUTH, silent in the access log even when READY answers
503, with bodies made once. HEALTH is answered on the loop, so a handler
that blocks the loop fails it (the liveness probe times out). READY reads
the service's one `Readiness`, shared by its servers, and, while that says
ready, the READY line's `check`.
"""
import inspect
import json
import logging

from rhc.routing import ALWAYS

log = logging.getLogger('rhc.probes')

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

    Falsy or raising means failing. A change of outcome is logged once, not
    on every probe: a balancer asks many times a second.
    """

    def __init__(self, fn, name):
        if inspect.iscoroutinefunction(fn):
            # The place for an async check: make the READY answer a coroutine that awaits it.
            raise ValueError(f"READY check '{name}' is an async def: not supported yet")
        self.fn = fn
        self.name = name
        self.passing = True

    def passes(self):
        try:
            ok = bool(self.fn())
            error = None
        except Exception as e:
            ok, error = False, e
        if ok != self.passing:
            self.passing = ok
            if ok:
                log.info('READY check %s passes again', self.name)
            elif error is not None:
                log.warning('READY check %s raised %s: %s', self.name, type(error).__name__, error)
            else:
                log.warning('READY check %s fails', self.name)
        return ok


def health(request):
    return HEALTHY


def ready_answer(readiness, check=None):
    """The READY handler: the state, or `failing` when ready but the check fails."""
    def answer(request):
        state = readiness.state
        if state == READY and check is not None and not check.passes():
            state = FAILING
        return ANSWERS[state]
    return answer


def install(router, server, readiness, check_fn=None):
    """Serve the HEALTH and READY lines of `server` (a micro model Server) on `router`.

    `check_fn` is READY's resolved `check`. Returns the ROUTE patterns the
    probe paths hide; ValueError for a path another built-in serves or an
    async check.
    """
    hidden = []
    if server.health is not None:
        hidden += router.add_builtin(server.health.path, health, 'the HEALTH probe', ALWAYS)
    if server.ready is not None:
        check = Check(check_fn, server.ready.check) if check_fn is not None else None
        hidden += router.add_builtin(server.ready.path, ready_answer(readiness, check),
                                     'the READY probe', ALWAYS)
    return hidden
