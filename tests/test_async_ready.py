"""`async def` READY checks over real sockets (SPEC §7, §9).

The service is tests/micro_files/async_ready.micro: server `api`'s check
says what `ready_handlers.OUTCOME` says (after one await), server `gate`'s
asks a backend's /health with `rhc.Connection(url).get`. It is loaded
in-process on the default loop (the probes are rhc calls, driven by
`rhc.wait`), or launched with `python -m rhc.launch`. The backends are an
rhc server on a loop of its own, or a raw socket server that never answers
and notes when its client hangs up.
"""
import http.client
import json
import logging
import os
import socket
import threading
import time

import pytest

import rhc
from rhc import probes
from rhc.loop import get_loop

import ready_handlers
from client_support import RawServer, load, port_of
from conftest import TESTS, Launched, Running

SOURCE = os.path.join(TESTS, 'micro_files', 'async_ready.micro')
BACKEND = ['SERVER backend 0', 'READY /health']     # 200 while ready, 503 while draining


@pytest.fixture(autouse=True)
def fresh():
    ready_handlers.OUTCOME['value'] = True
    ready_handlers.SEEN.clear()
    yield
    ready_handlers.OUTCOME['value'] = True


def start(backend='http://127.0.0.1:9'):
    return load(SOURCE, config={'ready_backend': backend})


def probe(port, path='/ready', headers=None):
    """(status, document) of one GET, served by the default loop while it waits."""
    api = rhc.Connection(f'http://127.0.0.1:{port}', timeout=20)
    try:
        response = rhc.wait(api.get(path, headers=headers, full=True), timeout=25)
    finally:
        api.close()
    return response.status, response.json()


def serve_until(predicate, timeout=10):
    """Run the default loop until `predicate()`, which another thread may make true
    (so the loop is not left asleep waiting for a socket that never speaks)."""
    deadline = time.monotonic() + timeout
    while not predicate() and time.monotonic() < deadline:
        get_loop().run_until(predicate, timeout=0.05)
    return predicate()


def changes(caplog):
    return [r.getMessage() for r in caplog.records if r.name == 'rhc.probes']


@pytest.fixture
def hanging():
    """A backend that reads a request, never answers, and notes when its client hangs up."""
    closed = threading.Event()
    heads = []

    def hold(server, conn, index):
        heads.append(server.request(conn))
        conn.settimeout(30)
        try:
            if conn.recv(100) == b'':
                closed.set()
        except socket.timeout:
            pass
        except OSError:
            closed.set()
    server = RawServer(hold)
    server.closed = closed
    server.heads = heads
    yield server
    server.stop()


# -- what the check returns or raises -----------------------------------------------

def test_a_true_check_is_200_ready():
    service = start()
    assert probe(port_of(service, 'api')) == (200, {'status': 'ready'})
    assert ready_handlers.SEEN == ['called']


def test_a_false_check_is_503_failing_logged_once(caplog):
    caplog.set_level(logging.INFO, logger='rhc.probes')
    port = port_of(start(), 'api')
    ready_handlers.OUTCOME['value'] = 0
    assert probe(port) == (503, {'status': 'failing'})
    assert probe(port) == (503, {'status': 'failing'})
    ready_handlers.OUTCOME['value'] = 'yes'
    assert probe(port) == (200, {'status': 'ready'})
    assert changes(caplog) == ['READY check ready_handlers.outcome fails',
                               'READY check ready_handlers.outcome passes again']


def test_a_raising_check_is_503_failing_and_the_loop_goes_on(caplog):
    caplog.set_level(logging.INFO, logger='rhc.probes')
    port = port_of(start(), 'api')
    ready_handlers.OUTCOME['value'] = RuntimeError('database away')
    assert probe(port) == (503, {'status': 'failing'})
    assert probe(port) == (503, {'status': 'failing'})
    assert probe(port, '/health') == (200, {'status': 'ok'})
    assert probe(port, '/ping') == (200, {'ping': 'pong'})
    ready_handlers.OUTCOME['value'] = True
    assert probe(port) == (200, {'status': 'ready'})
    # As for a plain check: a warning when it starts failing, not one per probe, no 500.
    assert changes(caplog) == ['READY check ready_handlers.outcome raised RuntimeError: '
                               'database away',
                               'READY check ready_handlers.outcome passes again']
    assert not [r for r in caplog.records if r.name == 'rhc.request']


def test_starting_and_draining_do_not_call_the_check():
    service = start()
    port = port_of(service, 'api')
    service.readiness.starting()
    assert probe(port) == (503, {'status': 'starting'})
    service.readiness.draining()
    assert probe(port) == (503, {'status': 'draining'})
    assert ready_handlers.SEEN == []


def test_async_probes_are_silent_in_the_access_log(caplog):
    caplog.set_level(logging.INFO, logger='rhc')
    port = port_of(start(), 'api')
    probe(port, headers={'X-Request-Id': 'probe-ready'})
    ready_handlers.OUTCOME['value'] = False
    probe(port, headers={'X-Request-Id': 'probe-failing'})
    assert probe(port, '/nowhere', headers={'X-Request-Id': 'not-a-probe'})[0] == 404
    assert 'not-a-probe' in caplog.text         # the access log is on
    assert 'probe-' not in caplog.text


# -- a check that awaits an outbound call ---------------------------------------------

def test_ready_while_the_backend_answers_200(caplog):
    caplog.set_level(logging.INFO, logger='rhc.probes')
    backend = Running(BACKEND)
    try:
        port = port_of(start(f'http://127.0.0.1:{backend.port()}'), 'gate')
        assert probe(port) == (200, {'status': 'ready'})
        assert probe(port) == (200, {'status': 'ready'})
        backend.call(backend.service.readiness.draining)    # the backend answers 503
        assert probe(port) == (503, {'status': 'failing'})
    finally:
        backend.stop()
    assert probe(port) == (503, {'status': 'failing'})      # and now nothing listens
    assert ready_handlers.SEEN == ['called'] * 4
    [failing] = changes(caplog)
    assert failing.startswith('READY check ready_handlers.backend_up raised CallError: ')


def test_a_check_that_hangs_is_bounded_and_cancelled(hanging, monkeypatch, caplog):
    monkeypatch.setattr(probes, 'CHECK_TIMEOUT', 0.5)
    caplog.set_level(logging.INFO, logger='rhc.probes')
    port = port_of(start(hanging.url), 'gate')
    assert probe(port, headers={'X-Request-Id': 'probe-hangs'}) == (503, {'status': 'failing'})
    assert hanging.closed.wait(5)               # the check's outbound call was closed
    assert ready_handlers.SEEN == ['called', 'cancelled']
    assert b'\r\nX-Request-Id: probe-hangs' in hanging.heads[0]    # the call was the probe's
    assert changes(caplog) == [
        'READY check ready_handlers.backend_up did not finish within 0.5s; cancelled']


def test_a_client_that_hangs_up_cancels_the_check(hanging, monkeypatch, caplog):
    monkeypatch.setattr(probes, 'CHECK_TIMEOUT', 60.0)
    caplog.set_level(logging.INFO, logger='rhc')
    port = port_of(start(hanging.url), 'gate')
    client = socket.create_connection(('127.0.0.1', port))
    client.sendall(b'GET /ready HTTP/1.1\r\nHost: x\r\n\r\n')
    assert serve_until(lambda: hanging.requests == 1)
    client.close()
    assert serve_until(lambda: 'cancelled' in ready_handlers.SEEN)
    assert hanging.closed.wait(5)
    assert ready_handlers.SEEN == ['called', 'cancelled']
    assert changes(caplog) == []        # nothing to say: nobody is waiting for the answer


# -- launched -----------------------------------------------------------------------------

def get(port, path='/ready'):
    conn = http.client.HTTPConnection('127.0.0.1', port, timeout=20)
    try:
        conn.request('GET', path)
        response = conn.getresponse()
        return response.status, json.loads(response.read())
    finally:
        conn.close()


def launched(env):
    service = Launched([SOURCE], env={'SERVER_API_HOST': '127.0.0.1',
                                      'SERVER_GATE_HOST': '127.0.0.1', **env})
    return service.wait_listening(count=2)


def test_launched_ready_follows_the_backend():
    backend = Running(BACKEND)
    service = None
    try:
        service = launched({'READY_BACKEND': f'http://127.0.0.1:{backend.port()}'})
        assert get(service.port('api')) == (200, {'status': 'ready'})
        assert get(service.port('gate')) == (200, {'status': 'ready'})
        backend.stop()
        backend = None
        assert get(service.port('gate')) == (503, {'status': 'failing'})
        code, _, log = service.terminate()
        assert code == 0, log
        assert 'READY check ready_handlers.backend_up raised CallError' in log
    finally:
        if backend is not None:
            backend.stop()
        if service is not None:
            service.kill()


def test_launched_a_check_that_hangs_is_bounded_and_cancelled(hanging):
    service = launched({'READY_BACKEND': hanging.url})
    try:
        assert get(service.port('gate')) == (503, {'status': 'failing'})
        assert hanging.closed.wait(10)
        assert get(service.port('api')) == (200, {'status': 'ready'})     # the loop went on
        code, _, log = service.terminate()
        assert code == 0, log
        assert (f'READY check ready_handlers.backend_up did not finish within '
                f'{probes.CHECK_TIMEOUT:g}s; cancelled') in log
    finally:
        service.kill()
