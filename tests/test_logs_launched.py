"""The access log of `python -m rhc.launch`: every answered request lands, soon, and as JSON.

The service's stderr goes to a file, as it would in production (a pipe
nobody reads would stall it): the tests read the file while it runs and
after it stops.
"""
import http.client
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time

import pytest

import readme_blocks
from docs_support import ROOT

TESTS = os.path.dirname(os.path.abspath(__file__))

HANDLERS = '''\
import logging


def ping(request):
    return {'ping': 'pong'}


def item(request, number):
    return {'item': number}


def boom(request):
    raise ValueError('kaboom\\nsecond line')


def warn(request):
    logging.getLogger('logged.handler').warning('a "warning" with\\ttab and \\u00e9')
    return 'warned'
'''

SERVICE = '''\
SERVER api 0
  ROUTE /ping$
    GET logged.ping
  ROUTE /items/(\\d+)$
    ARG int
    GET logged.item
  ROUTE /boom$
    GET logged.boom
  ROUTE /warn$
    GET logged.warn
'''

ACCESS_TEXT = re.compile(r'\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} INFO rhc\.access conn=\d+ '
                         r'request_id=(\S+) (\S+) (.*) (\d{3}) [\d.]+ms in=\d+ out=\d+ trace=[0-9a-f]{32}')


class Service:
    """`python -m rhc.launch` with its stderr in a file; stopped by pid."""

    def __init__(self, tmp_path, *args):
        (tmp_path / 'logged.py').write_text(HANDLERS)
        micro_file = tmp_path / 'service.micro'
        micro_file.write_text(SERVICE)
        self.log_path = tmp_path / 'stderr.log'
        env = dict(os.environ, PYTHONPATH=os.pathsep.join([ROOT, TESTS]),
                   SERVER_API_PORT='0', SERVER_API_HOST='127.0.0.1')
        with open(self.log_path, 'wb') as log:
            self.proc = subprocess.Popen([sys.executable, '-m', 'rhc.launch', str(micro_file),
                                          *args], stdout=subprocess.DEVNULL, stderr=log,
                                         env=env, cwd=tmp_path)
        self.port = int(self.wait_for(r'listening on api port (\d+)').group(1))

    def text(self):
        return self.log_path.read_text(encoding='utf-8', errors='replace')

    def wait_for(self, pattern, timeout=20):
        """The first match of `pattern` in the log, as soon as it is written."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = re.search(pattern, self.text())
            if found:
                return found
            assert self.proc.poll() is None, f'the service exited:\n{self.text()}'
            time.sleep(0.01)
        raise AssertionError(f'{pattern!r} not in the log within {timeout}s:\n{self.text()}')

    def stop(self, signum=signal.SIGTERM):
        if self.proc.poll() is None:
            self.proc.send_signal(signum)
        return self.proc.wait(timeout=15)

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=5)


@pytest.fixture
def service(tmp_path):
    started = []

    def start(*args):
        started.append(Service(tmp_path, *args))
        return started[-1]
    yield start
    for each in started:
        each.kill()


def get_many(port, ids, connections=4):
    """GET /ping once per id (sent as X-Request-Id) over a few keep-alive connections."""
    conns = [http.client.HTTPConnection('127.0.0.1', port, timeout=10) for _ in range(connections)]
    try:
        for index, request_id in enumerate(ids):
            conn = conns[index % connections]
            conn.request('GET', '/ping', headers={'X-Request-Id': request_id})
            response = conn.getresponse()
            assert response.status == 200 and response.read() == b'{"ping": "pong"}'
    finally:
        for conn in conns:
            conn.close()


def raw(port, request_bytes):
    """Send raw bytes, read until the server closes or a second passes."""
    with socket.create_connection(('127.0.0.1', port), timeout=5) as sock:
        sock.sendall(request_bytes)
        sock.settimeout(1)
        reply = b''
        try:
            while not reply.endswith(b'}') or b'\r\n\r\n' not in reply:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                reply += chunk
        except socket.timeout:
            pass
        return reply


def logged_ids(text):
    return [m.group(1) for m in ACCESS_TEXT.finditer(text)]


# -- nothing answered is lost ---------------------------------------------------------------

@pytest.mark.parametrize('log_format', ['text', 'json'])
def test_every_answered_request_is_in_the_log_after_sigterm(service, log_format):
    running = service('--log-format', log_format)
    ids = [f'sigterm-{n}' for n in range(400)]
    get_many(running.port, ids)
    assert running.stop() == 0      # right after the last answer
    text = running.text()
    if log_format == 'json':
        lines = [json.loads(line) for line in text.splitlines()]
        found = [line['request_id'] for line in lines if line['logger'] == 'rhc.access']
    else:
        found = logged_ids(text)
    assert found == ids


def test_a_line_lands_soon_without_further_traffic(service):
    running = service()
    get_many(running.port, ['lonely-one'], connections=1)
    answered = time.monotonic()
    running.wait_for(r'request_id=lonely-one GET /ping 200 ', timeout=5)
    waited = time.monotonic() - answered
    assert running.proc.poll() is None          # written while serving, not at exit
    # The handler writes within 0.1 s while the loop runs; 1 s leaves room for a busy machine.
    assert waited < 1.0, f'the line took {waited:.2f}s'


def test_a_crash_loses_nothing_older_than_the_flush_interval(service):
    running = service()
    ids = [f'crash-{n}' for n in range(200)]
    get_many(running.port, ids)
    running.wait_for('request_id=crash-199 ', timeout=5)
    time.sleep(0.3)         # three flush intervals
    running.stop(signal.SIGKILL)
    assert logged_ids(running.text()) == ids


# -- JSON, whatever the client sends -------------------------------------------------------

HOSTILE_TARGETS = [
    b'/items/7', b'/p%22q%22', b'/back%5Cslash', b'/caf%C3%A9', b'/%E2%80%AEevil',
    b'/x%0Ay', b'/tab%09', b'/esc%1B[2J', b'/bad%FF%FEutf8', b'/emoji%F0%9F%98%80',
    b'/items/notanumber',
]


def test_every_json_line_parses_whatever_the_path(service):
    running = service('--log-format', 'json')
    for target in HOSTILE_TARGETS:
        raw(running.port, b'GET ' + target + b' HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')
    # A request id the client chose, with quotes and a backslash in it.
    raw(running.port, b'GET /ping HTTP/1.1\r\nHost: x\r\nX-Request-Id: a"b\\c\r\n'
                      b'Connection: close\r\n\r\n')
    raw(running.port, b'GET /a\x01b HTTP/1.1\r\nHost: x\r\n\r\n')      # refused by the parser
    raw(running.port, b'GET /boom HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')
    raw(running.port, b'GET /warn HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')
    raw(running.port, 'GET /caf\u00e9 HTTP/1.1\r\nHost: x\r\n\r\n'.encode())
    assert running.stop() == 0
    text = running.text()
    lines = [json.loads(line) for line in text.splitlines()]      # every line, one object
    assert text.isascii()
    for line in lines:
        assert {'ts', 'level', 'logger', 'message'} <= set(line), line
        assert re.fullmatch(r'\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z', line['ts'])
    access = {line['path']: line for line in lines if line['logger'] == 'rhc.access'}
    assert set(access['/items/7']) == {'ts', 'level', 'logger', 'message', *REQUEST_FIELDS}
    assert {k: access['/items/7'][k] for k in ('method', 'route', 'status')} == \
        {'method': 'GET', 'route': r'/items/(\d+)$', 'status': 200}
    assert re.fullmatch('[0-9a-f]{32}', access['/items/7']['trace_id'])     # a new trace
    assert access['/p"q"']['route'] == '' and access['/p"q"']['status'] == 404
    assert access['/x\\x0ay']['status'] == 400 and access['/esc\\x1b[2J']['status'] == 400
    assert access['/café']['status'] == 404 and '/\u202eevil' not in access     # escaped
    assert access['/\\u202eevil']['status'] == 404
    assert access['/items/notanumber']['status'] == 404
    assert access['/ping']['request_id'] == 'a"b\\c'
    assert access['/boom']['status'] == 500
    for line in access.values():
        assert isinstance(line['cid'], int) and isinstance(line['duration_ms'], float)
        assert line['bytes_in'] > 0 and line['bytes_out'] > 0
        assert re.fullmatch(r'127\.0\.0\.1:\d+', line['peer'])
    [failure] = [line for line in lines if line['level'] == 'ERROR']
    assert 'ValueError: kaboom\nsecond line' in failure['exc_info']
    [warning] = [line for line in lines if line['logger'] == 'logged.handler']
    assert warning['message'] == 'a "warning" with\ttab and \u00e9'
    assert any(line['logger'] == 'rhc.server' and 'rejected' in line['message'] for line in lines)
    assert any(line['message'] == 'listening on api port %d' % running.port for line in lines)


REQUEST_FIELDS = ('cid', 'request_id', 'trace_id', 'method', 'path', 'route', 'status',
                  'duration_ms', 'bytes_in', 'bytes_out', 'peer')


def test_the_readme_json_line_has_the_fields_a_real_line_has(service):
    readme = open(os.path.join(ROOT, 'README.rst'), encoding='utf-8').read()
    [shown] = [json.loads(block.text) for block in readme_blocks.blocks(readme)
               if block.lang == 'json' and '"rhc.access"' in block.text]
    running = service('--log-format', 'json')
    raw(running.port, b'GET /items/7 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')
    assert running.stop() == 0
    [real] = [json.loads(line) for line in running.text().splitlines()
              if '"rhc.access"' in line]
    assert list(shown) == list(real)
    assert {key: type(value) for key, value in shown.items()} == \
        {key: type(value) for key, value in real.items()}


def test_the_text_format_is_the_one_line_per_request_it_always_was(service):
    running = service()
    raw(running.port, b'GET /items/7 HTTP/1.1\r\nHost: x\r\nX-Request-Id: plain\r\n'
                      b'Connection: close\r\n\r\n')
    assert running.stop() == 0
    [line] = [line for line in running.text().splitlines() if 'rhc.access' in line]
    assert ACCESS_TEXT.fullmatch(line).groups() == ('plain', 'GET', '/items/7', '200')


def test_an_unknown_log_format_is_refused(tmp_path):
    done = subprocess.run([sys.executable, '-m', 'rhc.launch', 'x.micro', '--log-format', 'xml'],
                          capture_output=True, text=True, cwd=ROOT, timeout=10,
                          env=dict(os.environ, PYTHONPATH=ROOT))
    assert done.returncode == 2 and "invalid choice: 'xml'" in done.stderr
