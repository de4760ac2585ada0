"""The holes a hostile client found, closed: each case over a launched service.

Anchored routes and control characters in paths, forged access-log lines,
`Expect: 100-continue` answered only for requests that will be served, a
zero-padded Content-Length, encoded slashes and dot segments, and a second
SIGTERM during a drain. See SECURITY.rst.
"""
import os
import shutil
import signal
import socket
import subprocess
import time

import pytest

import micro

from conftest import Launched
from test_attacks import exchange, statuses

SERVICE = """\
SERVER api 0
  ROUTE /admin$
    GET handlers.ping
  ROUTE /price\\$
    GET handlers.ping
  ROUTE /files/(.*)$
    GET handlers.path_arg
  ROUTE /private$
    POST handlers.body_size
      AUTH handlers.allow_token
  ROUTE /upload$
    POST handlers.body_size
  ROUTE /never$
    GET handlers.never
TEARDOWN handlers.teardown_marker
"""


@pytest.fixture
def service(tmp_path):
    path = tmp_path / 'service.micro'
    path.write_text(SERVICE)
    return path


def start(service, tmp_path, *flags):
    env = {'SERVER_API_HOST': '127.0.0.1', 'TEARDOWN_FILE': str(tmp_path / 'teardown.done')}
    return Launched([str(service), *flags], env=env).wait_listening()


@pytest.fixture
def api(service, tmp_path):
    launched = start(service, tmp_path)
    yield launched
    launched.kill()


def get(port, target, headers=b''):
    return statuses(port, b'GET ' + target + b' HTTP/1.1\r\nHost: x\r\n' + headers + b'\r\n',
                    count=1)


# -- anchors and control characters ----------------------------------------------------

def test_a_trailing_dollar_is_the_true_end_of_the_path():
    model = micro.parse(['SERVER a 0', 'ROUTE /admin$', 'GET handlers.ping',
                         'ROUTE /price\\$', 'GET handlers.ping'])
    admin, price = model.servers['a'].routes
    assert admin.regex.match('/admin') and not admin.regex.match('/admin\n')
    assert price.regex.match('/price$') and not price.regex.match('/price')


@pytest.mark.parametrize('target', [b'/admin%0A', b'/admin%0a', b'/admin%0D', b'/admin%00',
                                    b'/admin%1B', b'/admin%7F', b'/admin%09', b'/x%0Ay'])
def test_a_decoded_control_character_is_400_before_routing(api, target):
    assert get(api.port(), target) == ([400], False)


def test_the_anchored_route_still_answers(api):
    assert get(api.port(), b'/admin') == ([200], False)
    assert get(api.port(), b'/price$') == ([200], False)
    assert get(api.port(), b'/admin%20') == ([404], False)      # a space is data, not a control


# -- the access log ---------------------------------------------------------------------

def test_a_client_cannot_forge_or_colour_log_lines(api):
    port = api.port()
    forged = b'/x%0A2026-01-01%2000:00:00,000%20INFO%20rhc.access%20conn=1%20forged'
    assert get(port, forged) == ([400], False)
    assert get(port, b'/files/%1B[31mred') == ([400], False)
    assert get(port, b'/files/a%E2%80%A8b') == ([200], False)     # U+2028, a line separator
    assert get(port, b'/files/ok', b'X-Request-Id: \x1b[2Jid\r\n') == ([200], False)
    code, _, log = api.terminate()
    assert code == 0
    forged_lines = [line for line in log.splitlines() if 'forged' in line]
    assert len(forged_lines) == 1 and '\\x0a2026-01-01' in forged_lines[0]
    assert '\x1b' not in log
    assert '\\x1b[31mred' in log
    assert '\u2028' not in log and 'a\\u2028b' in log


# -- Expect: 100-continue ---------------------------------------------------------------

def expecting(port, target, extra=b'', size=5 * 1024 * 1024):
    """Send a head with `Expect: 100-continue`; return what came back within 1 s."""
    sock = socket.create_connection(('127.0.0.1', port), timeout=3)
    try:
        sock.sendall(b'POST ' + target + b' HTTP/1.1\r\nHost: x\r\n' + extra
                     + b'Expect: 100-continue\r\nContent-Length: %d\r\n\r\n' % size)
        sock.settimeout(1)
        data = b''
        try:
            while b'\r\n\r\n' not in data:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                data += chunk
        except socket.timeout:
            pass
        return data
    finally:
        sock.close()


def test_no_100_continue_for_a_request_that_fails_auth(api):
    answer = expecting(api.port(), b'/private')
    assert answer.startswith(b'HTTP/1.1 401 ') and b'100 Continue' not in answer
    assert b'connection: close' in answer.lower()


def test_no_100_continue_for_a_request_with_no_route(api):
    answer = expecting(api.port(), b'/nowhere')
    assert answer.startswith(b'HTTP/1.1 404 ') and b'100 Continue' not in answer


def test_no_100_continue_for_a_body_over_the_limit(api):
    answer = expecting(api.port(), b'/upload', size=20 * 1024 * 1024)
    assert answer.startswith(b'HTTP/1.1 413 ')


def test_100_continue_once_routing_and_auth_pass(api):
    port = api.port()
    sock = socket.create_connection(('127.0.0.1', port), timeout=3)
    with sock:
        sock.sendall(b'POST /private HTTP/1.1\r\nHost: x\r\nX-Token: secret\r\n'
                     b'Expect: 100-continue\r\nContent-Length: 5\r\n\r\n')
        assert sock.recv(100) == b'HTTP/1.1 100 Continue\r\n\r\n'
        sock.sendall(b'hello')
        answer = sock.recv(65536)
    assert answer.startswith(b'HTTP/1.1 200 ') and b'"size": 5' in answer


@pytest.mark.skipif(shutil.which('curl') is None, reason='curl is not installed')
@pytest.mark.parametrize('target, token, status', [('/private', None, '401'),
                                                    ('/nowhere', None, '404'),
                                                    ('/private', 'secret', '200')])
def test_curl_uploads_only_what_will_be_read(api, tmp_path, target, token, status):
    body = tmp_path / 'body.bin'
    body.write_bytes(os.urandom(5 * 1024 * 1024))
    command = ['curl', '-s', '-o', '/dev/null', '-w', '%{http_code} %{size_upload}',
               '-H', 'Expect: 100-continue', '--expect100-timeout', '5',
               '--data-binary', f'@{body}', f'http://127.0.0.1:{api.port()}{target}']
    if token:
        command[1:1] = ['-H', f'X-Token: {token}']
    code, uploaded = subprocess.run(command, capture_output=True, text=True,
                                    timeout=20).stdout.split()
    assert code == status
    if status == '200':
        assert float(uploaded) == 5 * 1024 * 1024
    else:
        assert float(uploaded) < 1024 * 1024       # curl stopped: it was told no at once


# -- Content-Length ---------------------------------------------------------------------

def test_a_zero_padded_content_length_is_judged_by_its_value(api):
    padded = b'0' * 40 + b'5'
    responses, closed = exchange(api.port(), b'POST /upload HTTP/1.1\r\nHost: x\r\n'
                                 b'Content-Length: ' + padded + b'\r\n\r\nhello', count=1)
    assert [r.status for r in responses] == [200] and b'"size": 5' in responses[0].body


# -- encoded slashes and dot segments -----------------------------------------------------

def test_encoded_slashes_and_dot_segments_are_data(api):
    port = api.port()
    responses, _ = exchange(port, b'GET /files/..%2F..%2Fetc%2Fpasswd HTTP/1.1\r\nHost: x\r\n\r\n',
                            count=1)
    assert responses[0].status == 200
    assert b'"rest": "../../etc/passwd"' in responses[0].body
    responses, _ = exchange(port, b'GET /files/../admin HTTP/1.1\r\nHost: x\r\n\r\n', count=1)
    assert b'"rest": "../admin"' in responses[0].body      # no normalisation: /files/ matched
    assert get(port, b'/a/../admin') == ([404], False)        # and /admin did not
    assert get(port, b'/%61dmin') == ([200], False)            # %61 is 'a': decoded, then routed


# -- a second signal during the drain -------------------------------------------------------

@pytest.mark.slow
def test_a_second_sigterm_ends_the_drain_at_once(service, tmp_path):
    launched = start(service, tmp_path, '--grace', '30')
    try:
        hanging = socket.create_connection(('127.0.0.1', launched.port()), timeout=10)
        hanging.sendall(b'GET /never HTTP/1.1\r\nHost: x\r\n\r\n')
        time.sleep(0.3)
        launched.proc.send_signal(signal.SIGTERM)
        launched.readline(time.monotonic() + 5)         # 'stopping: SIGTERM'
        time.sleep(0.3)
        assert launched.proc.poll() is None             # draining: the request is in flight
        started = time.monotonic()
        launched.proc.send_signal(signal.SIGTERM)
        code = launched.proc.wait(10)
        assert time.monotonic() - started < 5           # not the 30 s grace
        assert code == 1
        assert hanging.recv(100) == b''                 # its connection was closed
        _, _, log = launched.terminate()
        assert 'second SIGTERM during the drain' in log
        assert (tmp_path / 'teardown.done').exists()
        hanging.close()
    finally:
        launched.kill()
