"""HTTP/1.1 on the wire, end to end: what only real sockets and real clients show.

The protocol's behaviour (timeouts, pipelining, Expect, limits, bad input,
keep-alive rules) is tested as data in test_protocol_data.py,
test_protocol_answers_data.py and test_exchange_data.py. What stays here
needs the kernel: http.client and curl as oracles, bodies and answers
larger than the socket buffers, a client that stops reading or resets
mid-answer, an upload that must read its 413 rather than a reset, and one
each of pipelining, rejection and timeout to prove the wiring.

Raw sockets say exactly what is sent; `Wire` reads responses back one at a
time (by Content-Length) so pipelined answers can be checked in order.
"""
import hashlib
import http.client
import json
import os
import shutil
import socket
import subprocess
import time

import pytest

SERVICE = [
    'SERVER api 0',
    'ROUTE /ping$', 'GET handlers.ping',
    'ROUTE /echo$', 'GET handlers.echo', 'POST handlers.echo',
    'ROUTE /size$', 'POST handlers.body_size', 'PUT handlers.body_size',
    'ROUTE /big$', 'GET handlers.big',
    'ROUTE /delayed$', 'GET handlers.delayed',
]


class Wire:
    """A raw client socket that reads whole responses."""

    def __init__(self, port, timeout=3):
        self.sock = socket.create_connection(('127.0.0.1', port), timeout=timeout)
        self.buf = b''

    def send(self, data):
        self.sock.sendall(data)
        return self

    def _fill(self):
        data = self.sock.recv(65536)
        if not data:
            raise EOFError('closed by the server; had %r' % self.buf[:200])
        self.buf += data

    def response(self):
        """(status, {lower-case name: value}, body) of the next response."""
        while b'\r\n\r\n' not in self.buf:
            self._fill()
        head, self.buf = self.buf.split(b'\r\n\r\n', 1)
        lines = head.decode('latin-1').split('\r\n')
        status = int(lines[0].split(' ')[1])
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(':')
            assert name.lower() not in headers, f'{name} sent twice'
            headers[name.lower()] = value.strip()
        length = int(headers.get('content-length', 0))
        while len(self.buf) < length:
            self._fill()
        body, self.buf = self.buf[:length], self.buf[length:]
        return status, headers, body

    def closed(self, within=2.0):
        """True when the server closes the connection within `within` seconds."""
        self.sock.settimeout(within)
        try:
            while True:
                data = self.sock.recv(65536)
                if not data:
                    return True
                self.buf += data
        except ConnectionResetError:
            return True
        except socket.timeout:
            return False

    def close(self):
        self.sock.close()


@pytest.fixture
def wire():
    opened = []

    def open_(port, timeout=3):
        opened.append(Wire(port, timeout))
        return opened[-1]
    yield open_
    for w in opened:
        w.close()


def get(path, extra=b'', version=b'HTTP/1.1'):
    return b'GET ' + path + b' ' + version + b'\r\nHost: test\r\n' + extra + b'\r\n'


def ping_ok(port):
    """A fresh request on a fresh connection answers 200."""
    conn = http.client.HTTPConnection('127.0.0.1', port, timeout=5)
    try:
        conn.request('GET', '/ping')
        response = conn.getresponse()
        return response.status == 200 and json.loads(response.read()) == {'ping': 'pong'}
    finally:
        conn.close()


@pytest.fixture
def api(serve):
    return serve(SERVICE)


# -- keep-alive and pipelining ---------------------------------------------

def test_keep_alive_with_http_client(api):
    conn = http.client.HTTPConnection('127.0.0.1', api.port(), timeout=5)
    socks = set()
    for n in range(5):
        conn.request('GET', f'/echo?n={n}')
        response = conn.getresponse()
        assert json.loads(response.read())['query'] == {'n': str(n)}
        assert response.getheader('Connection') is None
        socks.add(id(conn.sock))
    assert len(socks) == 1
    conn.close()


def test_three_pipelined_requests_answered_in_order(api, wire):
    w = wire(api.port()).send(get(b'/echo?n=1') + get(b'/ping') + get(b'/echo?n=3'))
    first, second, third = w.response(), w.response(), w.response()
    assert json.loads(first[2])['query'] == {'n': '1'}
    assert json.loads(second[2]) == {'ping': 'pong'}
    assert json.loads(third[2])['query'] == {'n': '3'}
    assert len({r[1]['x-request-id'] for r in (first, second, third)}) == 3
    assert not w.closed(within=0.2)


# -- bodies ----------------------------------------------------------------

def test_chunked_body_with_http_client(api):
    conn = http.client.HTTPConnection('127.0.0.1', api.port(), timeout=5)
    pieces = [b'one', b'two', b'three']
    conn.request('POST', '/size', body=iter(pieces), encode_chunked=True,
                 headers={'Transfer-Encoding': 'chunked'})
    document = json.loads(conn.getresponse().read())
    assert document['size'] == len(b'onetwothree')
    conn.close()


def test_large_body_and_large_response(api):
    payload = os.urandom(3 * 1024 * 1024)
    conn = http.client.HTTPConnection('127.0.0.1', api.port(), timeout=5)
    conn.request('POST', '/size', body=payload)
    assert json.loads(conn.getresponse().read()) == {
        'size': len(payload), 'sha': hashlib.sha256(payload).hexdigest()}
    conn.request('GET', '/big?n=5000000')
    response = conn.getresponse()
    body = response.read()
    assert len(body) == 5000000 and body[:16] == b'0123456789abcdef'
    conn.close()


CURL = shutil.which('curl')


@pytest.mark.skipif(CURL is None, reason='curl is not installed')
def test_curl_large_post_gets_100_continue(api, tmp_path):
    payload = os.urandom(2 * 1024 * 1024)
    (tmp_path / 'payload').write_bytes(payload)
    result = subprocess.run(
        [CURL, '-sS', '-v', '--max-time', '5', '-H', 'Expect: 100-continue',
         '--data-binary', f'@{tmp_path / "payload"}', f'{api.url}/size'],
        capture_output=True, timeout=10)
    assert result.returncode == 0, result.stderr
    assert b'HTTP/1.1 100 Continue' in result.stderr
    assert json.loads(result.stdout) == {'size': len(payload),
                                         'sha': hashlib.sha256(payload).hexdigest()}


@pytest.mark.skipif(CURL is None, reason='curl is not installed')
def test_curl_chunked_upload(api, tmp_path):
    (tmp_path / 'payload').write_bytes(b'z' * 70000)
    result = subprocess.run(
        [CURL, '-sS', '--max-time', '5', '-H', 'Transfer-Encoding: chunked',
         '--data-binary', f'@{tmp_path / "payload"}', f'{api.url}/size'],
        capture_output=True, timeout=10)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)['size'] == 70000


# -- limits (SPEC §5) ------------------------------------------------------

LIMITS = {
    'SERVER_API_MAX_REQUEST_LINE': '100',
    'SERVER_API_MAX_HEADER': '300',
    'SERVER_API_MAX_HEADER_FIELDS': '5',
    'SERVER_API_MAX_BODY': '100',
}


@pytest.fixture
def limited(serve):
    return serve(SERVICE, environ=LIMITS)


def assert_rejected(server, w, status):
    got, headers, body = w.response()
    assert got == status, body
    assert headers['content-type'] == 'application/json; charset=utf-8'
    assert json.loads(body)['error']
    assert 'date' in headers and 'x-request-id' in headers
    assert headers.get('connection') == 'close'
    assert w.closed()
    assert ping_ok(server.port())


def test_an_upload_over_the_limit_reads_its_413(limited):
    """The server drains what the client still sends before closing, so a
    client busy uploading reads the 413 instead of a connection reset."""
    for _ in range(3):
        conn = http.client.HTTPConnection('127.0.0.1', limited.port(), timeout=5)
        try:
            conn.request('POST', '/size', body=b'x' * 4_000_000)
            response = conn.getresponse()
            assert response.status == 413
            assert json.loads(response.read())['error']
        finally:
            conn.close()
    assert ping_ok(limited.port())


# -- a rejection, end to end: answered, then the socket closes -------------

def test_rejection_after_a_good_request_on_the_same_connection(api, wire):
    w = wire(api.port()).send(get(b'/ping') + get(b'/ping', b'Bad Name: x\r\n'))
    assert w.response()[0] == 200
    assert_rejected(api, w, 400)


def test_client_that_vanishes_mid_request(api):
    for partial in (b'GET /pi', b'POST /size HTTP/1.1\r\nHost: t\r\nContent-Length: 50\r\n\r\nabc'):
        sock = socket.create_connection(('127.0.0.1', api.port()), timeout=3)
        sock.sendall(partial)
        sock.close()
    sock = socket.create_connection(('127.0.0.1', api.port()), timeout=3)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b'\x01\x00\x00\x00\x00\x00\x00\x00')
    sock.sendall(get(b'/big?n=3000000'))
    sock.close()   # reset while the server is writing
    assert ping_ok(api.port())
    deadline = time.monotonic() + 2
    while time.monotonic() < deadline and api.service.servers['api'].connections:
        time.sleep(0.02)
    assert not api.service.servers['api'].connections


# -- timeouts --------------------------------------------------------------

def test_idle_keep_alive_is_closed(serve, wire):
    server = serve(SERVICE, environ={'SERVER_API_IDLE_TIMEOUT': '0.6'})
    w = wire(server.port(), timeout=5).send(get(b'/ping'))
    assert w.response()[0] == 200
    time.sleep(0.2)
    w.send(get(b'/ping'))                # still open well inside the timeout
    assert w.response()[0] == 200
    started = time.monotonic()
    assert w.closed(within=2.5)
    assert 0.4 < time.monotonic() - started < 2.5
    assert ping_ok(server.port())


# -- a client that does not read its answers -------------------------------

def _largest_unsent(server):
    return max((len(c.out) + c.transport.get_write_buffer_size()
                for c in server.service.servers['api'].connections), default=0)


def test_unread_pipelined_answers_do_not_pile_up(api, wire):
    w = wire(api.port(), timeout=5)
    w.send(get(b'/big?n=1000000') * 40)
    time.sleep(0.5)
    assert _largest_unsent(api) < 4 * 1000000
    # Reading now drains them, every one whole and in order.
    for _ in range(40):
        status, _, body = w.response()
        assert status == 200 and len(body) == 1000000
    w.send(get(b'/ping'))
    assert json.loads(w.response()[2]) == {'ping': 'pong'}


def test_client_that_stops_reading_is_closed_at_idle_timeout(serve, wire):
    server = serve(SERVICE, environ={'SERVER_API_IDLE_TIMEOUT': '0.5'})
    w = wire(server.port(), timeout=5)
    w.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    w.send(get(b'/big?n=20000000'))
    deadline = time.monotonic() + 2
    while _largest_unsent(server) == 0 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert _largest_unsent(server) > 0          # stuck: the client reads nothing
    started = time.monotonic()
    listener = server.service.servers['api']
    while listener.connections and time.monotonic() < deadline + 1:
        time.sleep(0.05)
    assert not listener.connections
    assert 0.3 < time.monotonic() - started < 2.5
    assert ping_ok(server.port())


def test_bytes_sent_after_the_last_answer_are_not_buffered(api, wire):
    w = wire(api.port(), timeout=5)
    w.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    w.send(get(b'/big?n=20000000', b'Connection: close\r\n'))
    listener = api.service.servers['api']
    deadline = time.monotonic() + 2
    while _largest_unsent(api) == 0 and time.monotonic() < deadline:
        time.sleep(0.02)
    junk = b'x' * 65536
    for _ in range(64):                    # 4 MiB the server has no reason to keep
        try:
            w.sock.settimeout(0.2)
            w.sock.sendall(junk)
        except (socket.timeout, OSError):
            break
    time.sleep(0.2)
    assert max((c.parser.buffered for c in listener.connections), default=0) < 1024 * 1024
