"""HEALTH and READY over a real socket: states, AUTH skipped, silent, HEAD, the check.

A service is served in-process on 127.0.0.1 port 0 (the `serve` fixture);
its `service.readiness` is moved through its states the way the launcher
moves it (SETUP run, a stop signal), and what the probes answer is read
with http.client.
"""
import http.client
import json
import logging
import subprocess
import sys
import threading
import time

import pytest

import micro
from rhc import probes
from rhc.loop import Loop
from rhc.service import Service

import handlers
from conftest import ROOT, TESTS, Running

SERVICE = ['SERVER api 0', 'AUTH handlers.deny',
           'HEALTH /health', 'READY /ready check=handlers.ready_check',
           'ROUTE /ping$', 'GET handlers.ping']


def get(port, path, method='GET', headers=None):
    conn = http.client.HTTPConnection('127.0.0.1', port, timeout=5)
    try:
        conn.request(method, path, headers=headers or {})
        response = conn.getresponse()
        return response.status, response.headers, response.read()
    finally:
        conn.close()


def status_of(port, path, method='GET'):
    status, _, body = get(port, path, method)
    return status, json.loads(body) if body else None


@pytest.fixture
def check():
    handlers.READY_CHECK['outcome'] = True
    yield handlers.READY_CHECK
    handlers.READY_CHECK['outcome'] = True


@pytest.fixture
def api(serve, check):
    return serve(SERVICE)


def test_health_and_ready_answer_without_auth(api):
    assert status_of(api.port(), '/ping') == (401, {'error': 'unauthorized'})    # AUTH applies
    assert status_of(api.port(), '/health') == (200, {'status': 'ok'})
    assert status_of(api.port(), '/ready') == (200, {'status': 'ready'})


def test_probe_answers_are_json_and_never_cached(api):
    for path in ('/health', '/ready'):
        status, headers, _ = get(api.port(), path)
        assert headers['Content-Type'] == 'application/json; charset=utf-8'
        assert headers['Cache-Control'] == 'no-store'


def test_head_has_the_headers_and_no_body(api):
    status, headers, body = get(api.port(), '/ready', 'HEAD')
    assert (status, body) == (200, b'')
    assert int(headers['Content-Length']) == len(b'{"status": "ready"}')
    assert get(api.port(), '/health', 'HEAD')[::2] == (200, b'')


def test_other_methods_are_405(api):
    status, headers, _ = get(api.port(), '/health', 'POST')
    assert (status, headers['Allow']) == (405, 'GET, HEAD')


def test_draining_is_503_from_the_first_instant(api):
    api.call(api.service.readiness.draining)
    assert status_of(api.port(), '/ready') == (503, {'status': 'draining'})
    assert status_of(api.port(), '/health') == (200, {'status': 'ok'})    # alive all the same


def test_a_failing_check_is_503_failing_and_passing_again_is_200(api, check, caplog):
    caplog.set_level(logging.INFO, logger='rhc.probes')
    check['outcome'] = 0
    assert status_of(api.port(), '/ready') == (503, {'status': 'failing'})
    assert status_of(api.port(), '/ready') == (503, {'status': 'failing'})
    check['outcome'] = RuntimeError('database away')
    assert status_of(api.port(), '/ready') == (503, {'status': 'failing'})
    check['outcome'] = 'yes'
    assert status_of(api.port(), '/ready') == (200, {'status': 'ready'})
    changes = [r.getMessage() for r in caplog.records if r.name == 'rhc.probes']
    # One line per change of outcome, not one per probe.
    assert changes == ['READY check handlers.ready_check fails',
                       'READY check handlers.ready_check passes again']


def test_a_raising_check_is_logged_with_its_error(api, check, caplog):
    caplog.set_level(logging.INFO, logger='rhc.probes')
    check['outcome'] = RuntimeError('database away')
    assert status_of(api.port(), '/ready') == (503, {'status': 'failing'})
    assert 'READY check handlers.ready_check raised RuntimeError: database away' in caplog.text


def test_draining_wins_over_the_check(api, check):
    check['outcome'] = False
    api.call(api.service.readiness.draining)
    assert status_of(api.port(), '/ready') == (503, {'status': 'draining'})


class NotSetUp(Running):
    """A served service whose SETUP has not run yet (`Running` runs it at once)."""

    def __init__(self, lines):
        self.loop = Loop()
        self.service = Service(micro.parse(lines), self.loop,
                               environ={'SERVER_API_HOST': '127.0.0.1'})
        self.service.listen()
        self.service.start()
        self.thread = threading.Thread(target=self.loop.run, daemon=True)
        self.thread.start()


def test_ready_is_starting_until_setup_has_run(check):
    running = NotSetUp(SERVICE)
    try:
        port = running.port()
        assert status_of(port, '/ready') == (503, {'status': 'starting'})
        assert status_of(port, '/health') == (200, {'status': 'ok'})
        running.call(running.service.setup)
        assert status_of(port, '/ready') == (200, {'status': 'ready'})
    finally:
        running.stop()


def test_probes_are_silent_in_the_access_log_even_when_503(api, caplog):
    caplog.set_level(logging.INFO, logger='rhc')
    port = api.port()
    get(port, '/health', headers={'X-Request-Id': 'probe-health'})
    get(port, '/ready', headers={'X-Request-Id': 'probe-ready'})
    api.call(api.service.readiness.draining)
    get(port, '/ready', headers={'X-Request-Id': 'probe-draining'})
    get(port, '/nowhere', headers={'X-Request-Id': 'not-a-probe'})
    deadline = time.monotonic() + 2
    while time.monotonic() < deadline and 'not-a-probe' not in caplog.text:
        time.sleep(0.02)
    assert 'not-a-probe' in caplog.text         # the access log is on
    assert 'probe-' not in caplog.text


def test_a_probe_path_hides_a_route_with_a_warning(serve, caplog):
    caplog.set_level(logging.WARNING, logger='rhc.service')
    api = serve(['SERVER api 0', 'HEALTH /health', 'ROUTE /health', 'GET handlers.ping'])
    assert status_of(api.port(), '/health') == (200, {'status': 'ok'})
    assert 'ROUTE /health is hidden where it matches a probe path' in caplog.text


def test_a_check_that_cannot_be_imported_names_the_ready_line():
    with pytest.raises(micro.MicroError) as info:
        Service(micro.parse(['SERVER api 0', 'READY /ready check=handlers.no_such']), Loop())
    assert str(info.value) == ("<lines>:2: cannot import 'handlers.no_such': "
                               "'handlers' has no attribute 'no_such'")


def test_an_async_check_makes_ready_a_coroutine_endpoint_and_a_plain_one_does_not():
    # Served end to end in tests/test_async_ready.py; a plain check stays inline.
    lines = ['SERVER api 0', 'READY /r check=handlers.async_ready_check',
             'SERVER other 0', 'READY /r check=handlers.ready_check']
    routers = Service(micro.parse(lines), Loop()).routers
    assert routers['api'].builtins['/r'].endpoints['GET'].is_async
    assert not routers['other'].builtins['/r'].endpoints['GET'].is_async


# -- the readiness states, as data ----------------------------------------------------

def test_readiness_moves_forward_only():
    readiness = probes.Readiness()
    seen = []
    readiness.on_ready(lambda: seen.append('first'))
    assert readiness.state == 'starting' and not readiness.is_ready and seen == []
    readiness.ready()
    readiness.on_ready(lambda: seen.append('later'))
    assert readiness.is_ready and seen == ['first', 'later']
    readiness.ready()
    assert seen == ['first', 'later']       # once
    readiness.draining()
    readiness.ready()
    readiness.starting()
    assert readiness.state == 'draining'    # a drain is never undone
    readiness.on_ready(lambda: seen.append('never'))
    assert seen == ['first', 'later']


def test_starting_again_from_ready():
    readiness = probes.Readiness()
    readiness.ready()
    readiness.starting()
    assert readiness.state == 'starting'


def test_probe_bodies_are_made_once():
    answer = probes.ready_answer(probes.Readiness())
    assert answer(None) is answer(None)
    assert probes.health(None) is probes.health(None)


def test_check_lists_the_probes(tmp_path):
    (tmp_path / 'service.micro').write_text('\n'.join(SERVICE) + '\n')
    done = subprocess.run([sys.executable, '-m', 'rhc.launch', str(tmp_path / 'service.micro'),
                           '--check'], capture_output=True, text=True, timeout=20,
                          env={'PYTHONPATH': f'{ROOT}:{TESTS}', 'PATH': '/usr/bin:/bin'})
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[:3] == [
        'server api port 0', '  HEALTH /health', '  READY  /ready  check=handlers.ready_check']
