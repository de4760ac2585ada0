"""HTTP/1.1 on the wire: keep-alive, pipelining, chunked bodies, limits, bad input, timeouts.

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

import rhc.loop

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

    def response(self, head_only=False):
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
        length = 0 if head_only else int(headers.get('content-length', 0))
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


def test_pipelined_requests_with_bodies(api, wire):
    post = b'POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabc'
    chunked = (b'POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n'
               b'2\r\nde\r\n0\r\n\r\n')
    w = wire(api.port()).send(post + chunked + get(b'/ping'))
    assert json.loads(w.response()[2])['body'] == 'abc'
    assert json.loads(w.response()[2])['body'] == 'de'
    assert json.loads(w.response()[2]) == {'ping': 'pong'}


def test_pipelined_behind_a_delayed_request_stay_in_order(serve, monkeypatch, wire):
    server = serve(SERVICE)
    monkeypatch.setattr(rhc.loop, '_default', server.loop)   # rhc.timer uses get_loop()
    w = wire(server.port()).send(get(b'/delayed?ms=150') + get(b'/echo?n=2') + get(b'/ping'))
    assert json.loads(w.response()[2])['delayed'] == 150
    assert json.loads(w.response()[2])['query'] == {'n': '2'}
    assert json.loads(w.response()[2]) == {'ping': 'pong'}


def test_request_split_into_single_bytes(api, wire):
    w = wire(api.port())
    for byte in get(b'/echo?x=y'):
        w.send(bytes([byte]))
    assert json.loads(w.response()[2])['query'] == {'x': 'y'}


def test_connection_close_is_honoured(api, wire):
    w = wire(api.port()).send(get(b'/ping', b'Connection: close\r\n'))
    status, headers, body = w.response()
    assert status == 200 and headers['connection'] == 'close'
    assert w.closed()


def test_requests_after_connection_close_are_not_answered(api, wire):
    w = wire(api.port()).send(get(b'/ping', b'Connection: close\r\n') + get(b'/echo'))
    assert w.response()[0] == 200
    assert w.closed()
    assert w.buf == b''


def test_http_1_0_closes(api, wire):
    w = wire(api.port()).send(b'GET /ping HTTP/1.0\r\n\r\n')
    status, headers, body = w.response()
    assert status == 200 and json.loads(body) == {'ping': 'pong'}
    assert w.closed()


def test_http_1_0_keep_alive(api, wire):
    w = wire(api.port()).send(b'GET /ping HTTP/1.0\r\nConnection: keep-alive\r\n\r\n')
    status, headers, _ = w.response()
    assert status == 200 and headers['connection'].lower() == 'keep-alive'
    w.send(b'GET /echo HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n')
    status, headers, body = w.response()
    assert status == 200 and json.loads(body)['path'] == '/echo'
    w.send(b'GET /ping HTTP/1.0\r\n\r\n')
    assert w.response()[0] == 200
    assert w.closed()


# -- bodies ----------------------------------------------------------------

def test_chunked_request_body(api, wire):
    w = wire(api.port()).send(
        b'POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n'
        b'5\r\nhello\r\n6;name=value\r\n world\r\nA\r\n, chunked!\r\n0\r\nTrailer: x\r\n\r\n')
    status, _, body = w.response()
    assert status == 200
    assert json.loads(body)['body'] == 'hello world, chunked!'


def test_chunked_body_trickled_in(api, wire):
    w = wire(api.port()).send(b'PUT /size HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n')
    payload = b''
    for n in range(20):
        piece = bytes([65 + n]) * (n + 1)
        payload += piece
        w.send(b'%x\r\n' % len(piece))
        w.send(piece + b'\r\n')
    w.send(b'0\r\n\r\n')
    status, _, body = w.response()
    assert status == 200
    assert json.loads(body) == {'size': len(payload), 'sha': hashlib.sha256(payload).hexdigest()}


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


def test_expect_100_continue(api, wire):
    w = wire(api.port()).send(b'POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n'
                              b'Expect: 100-continue\r\n\r\n')
    status, _, body = w.response(head_only=True)
    assert status == 100 and body == b''
    w.send(b'hello')
    status, _, body = w.response()
    assert status == 200 and json.loads(body)['body'] == 'hello'


def test_expect_100_continue_not_sent_when_body_already_here(api, wire):
    w = wire(api.port()).send(b'POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n'
                              b'Expect: 100-continue\r\n\r\nhello')
    status, _, body = w.response()
    assert status == 200 and json.loads(body)['body'] == 'hello'


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


def test_limits_allow_what_fits(limited, wire):
    w = wire(limited.port())
    w.send(get(b'/echo?' + b'q' * (100 - len(b'GET /echo? HTTP/1.1')), b'A: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n'))
    assert w.response()[0] == 200
    w.send(b'POST /size HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\n' + b'x' * 100)
    assert json.loads(w.response()[2])['size'] == 100


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


def test_request_line_too_long_is_414(limited, wire):
    w = wire(limited.port()).send(get(b'/echo?' + b'q' * 100))
    assert_rejected(limited, w, 414)


def test_request_line_too_long_without_end_is_414(limited, wire):
    w = wire(limited.port()).send(b'GET /' + b'q' * 200)
    assert_rejected(limited, w, 414)


def test_header_block_too_large_is_431(limited, wire):
    w = wire(limited.port()).send(get(b'/ping', b'X-Big: ' + b'b' * 300 + b'\r\n'))
    assert_rejected(limited, w, 431)


def test_header_block_too_large_before_its_end_is_431(limited, wire):
    w = wire(limited.port()).send(b'GET /ping HTTP/1.1\r\nHost: t\r\nX-Big: ' + b'b' * 400)
    assert_rejected(limited, w, 431)


def test_too_many_header_fields_is_431(limited, wire):
    w = wire(limited.port()).send(get(b'/ping', b''.join(b'X-%d: 1\r\n' % n for n in range(5))))
    assert_rejected(limited, w, 431)


def test_body_too_large_is_413(limited, wire):
    w = wire(limited.port()).send(b'POST /size HTTP/1.1\r\nHost: t\r\nContent-Length: 101\r\n\r\n'
                                  + b'x' * 101)
    assert_rejected(limited, w, 413)


def test_body_too_large_is_413_before_it_is_sent(limited, wire):
    w = wire(limited.port()).send(b'POST /size HTTP/1.1\r\nHost: t\r\nContent-Length: 100000\r\n'
                                  b'Expect: 100-continue\r\n\r\n')
    assert_rejected(limited, w, 413)


def test_chunked_body_too_large_is_413(limited, wire):
    w = wire(limited.port()).send(b'POST /size HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n'
                                  b'40\r\n' + b'x' * 64 + b'\r\n40\r\n' + b'y' * 64 + b'\r\n0\r\n\r\n')
    assert_rejected(limited, w, 413)


def test_default_limits(api, wire):
    w = wire(api.port()).send(get(b'/echo?' + b'q' * 9000))
    assert_rejected(api, w, 414)
    w = wire(api.port()).send(get(b'/ping', b''.join(b'X-%d: 1\r\n' % n for n in range(100))))
    assert_rejected(api, w, 431)
    w = wire(api.port()).send(b'POST /size HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n'
                              % (10 * 1024 * 1024 + 1))
    assert_rejected(api, w, 413)


# -- ambiguous or malformed requests: 400 and close ------------------------

@pytest.mark.parametrize('request_bytes', [
    pytest.param(b'POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n'
                 b'Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n', id='cl-and-te'),
    pytest.param(b'POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd',
                 id='differing-cl'),
    pytest.param(b'POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 3, 4\r\n\r\nabcd', id='cl-list'),
    pytest.param(b'POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: -3\r\n\r\nabc', id='negative-cl'),
    pytest.param(b'POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n',
                 id='bad-chunk-size'),
    pytest.param(b'POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n-1\r\nabc\r\n0\r\n\r\n',
                 id='negative-chunk-size'),
    pytest.param(b'POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n0x3\r\nabc\r\n0\r\n\r\n',
                 id='0x-chunk-size'),
    pytest.param(b'POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcX\r\n0\r\n\r\n',
                 id='chunk-without-crlf'),
    pytest.param(get(b'/ping', b'Bad Name: x\r\n'), id='space-in-header-name'),
    pytest.param(get(b'/ping', b'Bad : x\r\n'), id='space-before-colon'),
    pytest.param(get(b'/ping', b'X-A: 1\r\n  continued\r\n'), id='obs-fold'),
    pytest.param(get(b'/ping', b'X-A: 1\r\n\tcontinued\r\n'), id='obs-fold-tab'),
    pytest.param(b'GET /caf\xc3\xa9 HTTP/1.1\r\nHost: t\r\n\r\n', id='non-ascii-request-line'),
    pytest.param(b'GET /ping HTTP/1.1\r\nHost: t\r\nX: a\x00b\r\n\r\n', id='nul-in-header'),
    pytest.param(b'GET /ping HTTP/1.1\r\n\r\n', id='no-host'),
    pytest.param(b'GET  /ping HTTP/1.1\r\nHost: t\r\n\r\n', id='double-space'),
    pytest.param(b'GET /ping HTTP/1.1\nHost: t\n\n', id='bare-lf'),
    pytest.param(b'GET /ping\r\nHost: t\r\n\r\n', id='no-version'),
    pytest.param(b'\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n', id='tls-to-plain-port'),
])
def test_malformed_request_is_400_and_closes(api, wire, request_bytes):
    w = wire(api.port()).send(request_bytes)
    assert_rejected(api, w, 400)


def test_rejection_after_a_good_request_on_the_same_connection(api, wire):
    w = wire(api.port()).send(get(b'/ping') + get(b'/ping', b'Bad Name: x\r\n'))
    assert w.response()[0] == 200
    assert_rejected(api, w, 400)


def test_unsupported_http_version_is_505(api, wire):
    w = wire(api.port()).send(b'GET /ping HTTP/2.0\r\nHost: t\r\n\r\n')
    status, _, _ = w.response()
    assert status == 505
    assert w.closed()


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

def test_header_timeout_cuts_off_a_slow_client(serve, wire):
    server = serve(SERVICE, environ={'SERVER_API_HEADER_TIMEOUT': '0.5'})
    slow = wire(server.port(), timeout=5).send(b'GET /ping HTTP/1.1\r\nHo')
    started = time.monotonic()
    assert ping_ok(server.port())
    assert slow.closed(within=2.5)
    assert 0.4 < time.monotonic() - started < 2.5
    assert ping_ok(server.port())


def test_header_timeout_is_not_reset_by_trickling(serve, wire):
    server = serve(SERVICE, environ={'SERVER_API_HEADER_TIMEOUT': '0.5'})
    slow = wire(server.port(), timeout=5).send(b'GET /ping HTTP/1.1\r\n')
    started = time.monotonic()
    closed = False
    while time.monotonic() - started < 2.5:
        try:
            slow.send(b'X: y\r\n')
        except OSError:
            closed = True
            break
        if slow.closed(within=0.1):
            closed = True
            break
    assert closed
    assert time.monotonic() - started < 2.0


def test_header_timeout_covers_a_slow_body(serve, wire):
    server = serve(SERVICE, environ={'SERVER_API_HEADER_TIMEOUT': '0.5'})
    slow = wire(server.port(), timeout=5).send(
        b'POST /size HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\nabc')
    assert slow.closed(within=2.5)


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


def test_request_after_a_finished_one_gets_a_fresh_header_timeout(serve, wire):
    server = serve(SERVICE, environ={'SERVER_API_HEADER_TIMEOUT': '0.5'})
    w = wire(server.port(), timeout=5)
    for _ in range(3):
        time.sleep(0.3)
        w.send(get(b'/ping'))
        assert w.response()[0] == 200


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


def test_absolute_form_target(api, wire):
    w = wire(api.port()).send(b'GET http://example.com/echo?a=1 HTTP/1.1\r\nHost: example.com\r\n\r\n')
    status, _, body = w.response()
    assert status == 200
    assert json.loads(body)['path'] == '/echo' and json.loads(body)['query'] == {'a': '1'}


def test_percent_encoded_path_is_matched_decoded(api, wire):
    w = wire(api.port()).send(get(b'/%70ing'))
    assert json.loads(w.response()[2]) == {'ping': 'pong'}


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
