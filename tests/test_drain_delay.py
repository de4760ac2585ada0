"""`--drain-delay`: on SIGTERM READY turns 503 at once, serving goes on, then the drain.

One launched service (`python -m rhc.launch`, 127.0.0.1 port 0), stopped
by pid. During the delay a fresh connection is still accepted, READY
answers 503 `draining`, other routes answer 200 with `Connection: close`
(a keep-alive client goes back through its balancer); once the delay is
over the port refuses connections and the process exits 0. A second signal
during the delay ends it at once with exit status 1.
"""
import http.client
import json
import signal
import socket
import time

import pytest

SERVICE = '''\
SETUP worker_handlers.setup
TEARDOWN worker_handlers.teardown
SERVER api 0
  HEALTH /health
  READY /ready
  ROUTE /pid$
    GET worker_handlers.pid
'''

DELAY = 1.5


@pytest.fixture
def service(tmp_path):
    path = tmp_path / 'service.micro'
    path.write_text(SERVICE)
    return path


def start(launch, service, tmp_path, *flags):
    env = {'SERVER_API_HOST': '127.0.0.1', 'MARKS_DIR': str(tmp_path)}
    return launch(str(service), *flags, env=env).wait_listening()


def read_until(proc, text, within=5):
    deadline = time.monotonic() + within
    while text not in (line := proc.readline(deadline)):
        pass
    return line


def get(port, path, conn=None):
    own = conn is None
    conn = conn or http.client.HTTPConnection('127.0.0.1', port, timeout=5)
    try:
        conn.request('GET', path)
        response = conn.getresponse()
        return response.status, response.getheader('Connection'), json.loads(response.read())
    finally:
        if own:
            conn.close()


def accepts(port):
    try:
        socket.create_connection(('127.0.0.1', port), timeout=1).close()
        return True
    except ConnectionRefusedError:
        return False


@pytest.mark.slow
def test_ready_is_503_during_the_delay_while_other_routes_still_answer(launch, service, tmp_path):
    proc = start(launch, service, tmp_path, '--drain-delay', str(DELAY))
    port = proc.port()
    assert get(port, '/ready')[::2] == (200, {'status': 'ready'})
    kept = http.client.HTTPConnection('127.0.0.1', port, timeout=5)
    assert get(port, '/pid', kept)[:2] == (200, None)        # a keep-alive connection
    proc.proc.send_signal(signal.SIGTERM)
    signalled = time.monotonic()
    read_until(proc, 'stopping: SIGTERM')
    read_until(proc, 'READY answers 503; serving 1.5s more before the drain')
    during = []
    while time.monotonic() - signalled < DELAY - 0.5:
        during.append(get(port, '/ready'))
        during.append(get(port, '/pid'))
        during.append(get(port, '/health'))
        time.sleep(0.05)
    assert len(during) >= 6
    assert {(status, body.get('status')) for status, _, body in during[0::3]} == \
        {(503, 'draining')}
    assert all(status == 200 and 'pid' in body for status, _, body in during[1::3])
    assert all(status == 200 for status, _, _ in during[2::3])
    assert {connection for _, connection, _ in during} == {'close'}
    # The keep-alive connection is answered too, and told to close.
    assert get(port, '/pid', kept)[:2] == (200, 'close')
    kept.close()
    code = proc.proc.wait(10)
    assert time.monotonic() - signalled >= DELAY      # it served the whole delay
    assert not accepts(port)
    _, _, log = proc.terminate()
    assert code == 0, log
    assert list(tmp_path.glob('teardown.*'))


@pytest.mark.slow
def test_a_second_signal_during_the_delay_ends_it_at_once(launch, service, tmp_path):
    proc = start(launch, service, tmp_path, '--drain-delay', '20')
    proc.proc.send_signal(signal.SIGTERM)
    read_until(proc, 'serving 20.0s more')
    assert get(proc.port(), '/ready')[::2] == (503, {'status': 'draining'})
    started = time.monotonic()
    proc.proc.send_signal(signal.SIGINT)
    code = proc.proc.wait(10)
    assert time.monotonic() - started < 5      # not the 20 s delay
    _, _, log = proc.terminate()
    assert code == 1, log
    assert 'second SIGINT during the drain: closing connections now' in log
    assert list(tmp_path.glob('teardown.*'))


def test_without_a_delay_the_drain_begins_at_once(launch, service, tmp_path):
    proc = start(launch, service, tmp_path)
    proc.proc.send_signal(signal.SIGTERM)
    code = proc.proc.wait(10)
    _, _, log = proc.terminate()
    assert code == 0 and 'READY answers 503' not in log


@pytest.mark.parametrize('flags, message', [
    (('--drain-delay', '-1'), '--drain-delay must not be negative'),
    (('--grace', '-0.5'), '--grace must not be negative'),
    (('--workers', '-2'), '--workers must be 0 (one per CPU) or more'),
    (('--workers', '2', '--worker-timeout', '0'), '--worker-timeout must be more than 0'),
])
def test_bad_numbers_exit_1(launch, service, flags, message):
    proc = launch(str(service), *flags)
    code = proc.proc.wait(10)
    _, _, log = proc.terminate()
    assert code == 1 and message in log
