"""Handlers of the launched services in tests/test_workers.py, test_drain_delay.py and
test_balancer.py.

Each process leaves marks in the folder `MARKS_DIR` names (when it is set):
`imported.PID` when this module is imported, `setup.PID` and `teardown.PID`
from SETUP and TEARDOWN. `CRASH_IN_SETUP=1` makes SETUP raise.
"""
import os
import time

MARKS = os.environ.get('MARKS_DIR')


def _mark(what):
    if MARKS:
        with open(os.path.join(MARKS, f'{what}.{os.getpid()}'), 'w') as f:
            f.write(what)


_mark('imported')


def setup(config):
    if os.environ.get('CRASH_IN_SETUP'):
        raise RuntimeError('SETUP fails on purpose')
    _mark('setup')


def teardown():
    _mark('teardown')


def pid(request):
    return {'pid': os.getpid()}


def echo(request, n):
    """An answer a client can check: it names the request and the process."""
    return {'n': int(n), 'pid': os.getpid()}


def block(request):
    """Block the loop (what the heartbeat timeout is for)."""
    time.sleep(float(request.query.get('s', '5')))
    return {'slept': True}


def exit_now(request):
    os._exit(int(request.query.get('status', '3')))


def slow(request):
    """Answer after `ms` milliseconds without blocking the loop (a request in flight)."""
    import rhc
    request.delay()
    ms = int(request.query.get('ms', '1000'))
    rhc.timer.add(lambda: request.respond(200, {'slow': ms, 'pid': os.getpid()}), ms).start()
