"""The client against servers rhc did not write: the stdlib http.server and scripted sockets.

Every failure ends in a `CallError`, the loop goes on (the next call
succeeds), and no client socket is left open or watched.
"""
import http.server
import json
import socket
import time

import pytest

import rhc
import rhc.client
from rhc.loop import get_loop

from client_support import (RawServer, StdServer, keep_answering, loop_keys, ok,
                                 new_fds, open_fds, refused_port, reset, wait_for)


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'

    def setup(self):
        super().setup()
        self.server.connections += 1

    def log_message(self, *args):
        pass

    def _answer(self, status, body, content_type='application/json'):
        data = body.encode()
        self.send_response(status)
        self.send_header('Content-Type', content_type)
        self.send_header('Content-Length', str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        if self.path == '/missing':
            return self._answer(404, 'no such thing here', 'text/plain')
        if self.path == '/boom':
            return self._answer(500, '{"error": "boom"}')
        self._answer(200, json.dumps({'path': self.path, 'ua': self.headers.get('User-Agent')}))

    def do_POST(self):
        length = int(self.headers.get('Content-Length', 0))
        body = self.rfile.read(length)
        self._answer(201, json.dumps({'got': json.loads(body)}))


class OldHandler(Handler):
    protocol_version = 'HTTP/1.0'


@pytest.fixture
def std():
    server = StdServer(Handler)
    yield server
    server.stop()


@pytest.fixture
def raw():
    servers = []

    def start(script):
        servers.append(RawServer(script))
        return servers[-1]
    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def baseline():
    """(open fds, loop keys) before the test's client sockets exist."""
    get_loop()
    return open_fds(), loop_keys()


def assert_no_client_socket(con, keys):
    assert loop_keys() == keys + len(con.idle)
    for client in con.idle:
        assert not client.is_closing()


# -- http.server ----------------------------------------------------------------

def test_stdlib_server_get_and_post(std):
    con = rhc.Connection(std.url)
    assert rhc.wait(con.get('/hello'), timeout=5) == {'path': '/hello', 'ua': 'rhc'}
    assert rhc.wait(con.post('/post', {'a': [1, 2]}), timeout=5) == {'got': {'a': [1, 2]}}


def test_stdlib_404_is_a_call_error(std, baseline):
    con = rhc.Connection(std.url)
    with pytest.raises(rhc.CallError) as info:
        rhc.wait(con.get('/missing'), timeout=5)
    assert info.value.status == 404
    assert '404' in str(info.value)
    assert 'no such thing here' in str(info.value)
    assert info.value.body == 'no such thing here'      # decoded, as a result would be
    with pytest.raises(rhc.CallError) as info:
        rhc.wait(con.get('/boom'), timeout=5)
    assert info.value.status == 500
    assert rhc.wait(con.get('/fine'), timeout=5)['path'] == '/fine'
    assert_no_client_socket(con, baseline[1])


def test_stdlib_keep_alive_twenty_calls_one_connection(std):
    con = rhc.Connection(std.url)
    for i in range(20):
        assert rhc.wait(con.get(f'/n/{i}'), timeout=5)['path'] == f'/n/{i}'
    assert std.connections == 1
    assert con.connects == 1


def test_stdlib_http_1_0_server_closes_every_time(baseline):
    server = StdServer(OldHandler)
    try:
        con = rhc.Connection(server.url)
        for i in range(3):
            assert rhc.wait(con.get(f'/n/{i}'), timeout=5)['path'] == f'/n/{i}'
        assert server.connections == 3
        assert not con.idle
        assert loop_keys() == baseline[1]
    finally:
        server.stop()
    assert wait_for(lambda: not new_fds(baseline[0]))


# -- network failures -------------------------------------------------------------

def test_refused_port(baseline):
    con = rhc.Connection(f'http://127.0.0.1:{refused_port()}')
    with pytest.raises(rhc.CallError) as info:
        rhc.wait(con.get('/'), timeout=5)
    assert str(info.value) == 'connection refused'
    assert info.value.status is None
    assert not new_fds(baseline[0])
    assert loop_keys() == baseline[1]


def test_refused_port_through_a_callback():
    results = []
    rhc.Connection(f'http://127.0.0.1:{refused_port()}').get('/')(
        lambda rc, result: results.append((rc, result)))
    get_loop().run_until(lambda: results, timeout=5)
    assert len(results) == 1
    rc, error = results[0]
    assert rc == 1 and isinstance(error, rhc.CallError) and error.status is None


def test_dns_failure(monkeypatch, baseline):
    def no_such_host(host, port):
        raise socket.gaierror(socket.EAI_NONAME, 'Name or service not known')
    monkeypatch.setattr(rhc.client, 'resolve', no_such_host)
    con = rhc.Connection('http://no-such-host.invalid:8080')
    with pytest.raises(rhc.CallError) as info:
        rhc.wait(con.get('/'), timeout=5)
    assert 'cannot resolve no-such-host.invalid' in str(info.value)
    assert info.value.status is None
    assert loop_keys() == baseline[1]


def test_name_resolved_once_for_calls_waiting_together(monkeypatch, raw):
    server = raw(keep_answering)
    lookups = []

    def fake_resolve(host, port):
        lookups.append((host, port))
        time.sleep(0.05)
        return [(socket.AF_INET, ('127.0.0.1', port))]
    monkeypatch.setattr(rhc.client, 'resolve', fake_resolve)
    con = rhc.Connection(f'http://service.test:{server.port}')
    results = []
    for _ in range(3):
        con.get('/')(lambda rc, result: results.append(rc))
    get_loop().run_until(lambda: len(results) == 3, timeout=5)
    assert results == [0, 0, 0]
    assert lookups == [('service.test', server.port)]
    assert rhc.wait(con.get('/'), timeout=5)['n'] >= 1
    assert len(lookups) == 1


def test_server_that_never_answers_times_out(raw, baseline):
    def silent(server, conn, index):
        if index == 0:
            server.request(conn)
            server.idle()
        else:
            keep_answering(server, conn, index)
    server = raw(silent)
    con = rhc.Connection(server.url, timeout=0.3)
    started = time.monotonic()
    with pytest.raises(rhc.CallError) as info:
        rhc.wait(con.get('/'), timeout=5)
    assert str(info.value) == 'timeout'
    assert info.value.status is None
    assert 0.25 < time.monotonic() - started < 2
    assert loop_keys() == baseline[1]
    assert rhc.wait(con.get('/'), timeout=5) == {'n': 2}


def test_per_call_timeout(raw):
    def silent(server, conn, index):
        server.request(conn)
        server.idle()
    server = raw(silent)
    con = rhc.Connection(server.url)
    started = time.monotonic()
    with pytest.raises(rhc.CallError, match='^timeout$'):
        rhc.wait(con.get('/', timeout=0.2), timeout=5)
    assert time.monotonic() - started < 2


def test_wait_timeout_on_a_silent_server(raw):
    def silent(server, conn, index):
        server.request(conn)
        server.idle()
    server = raw(silent)
    con = rhc.Connection(server.url)
    started = time.monotonic()
    with pytest.raises(rhc.CallError) as info:
        rhc.wait(con.get('/'), timeout=0.2)
    assert str(info.value) == 'timeout'
    assert info.value.status is None
    assert time.monotonic() - started < 2


def test_a_slow_but_steady_server_is_not_a_timeout(raw):
    """The timeout is for silence: bytes that keep coming push it back."""
    body = b'{"slow": true}'

    def dribble(server, conn, index):
        server.request(conn)
        data = ok(body)
        for i in range(0, len(data), 8):
            conn.sendall(data[i:i + 8])
            time.sleep(0.03)
    server = raw(dribble)
    con = rhc.Connection(server.url, timeout=0.2)
    assert rhc.wait(con.get('/'), timeout=5) == {'slow': True}


# -- broken answers -----------------------------------------------------------------

def _first_bad_then_good(bad):
    def script(server, conn, index):
        if index == 0:
            server.request(conn)
            bad(conn)
        else:
            keep_answering(server, conn, index)
    return script


def _closes_mid_body(conn):
    conn.sendall(b'HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{"partial":')
    conn.shutdown(socket.SHUT_WR)


def _resets_mid_body(conn):
    conn.sendall(b'HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{"partial":')
    time.sleep(0.05)
    reset(conn)


def _garbage_status_line(conn):
    conn.sendall(b'HTCPCP/1.0 418 I am a teapot\r\nContent-Length: 0\r\n\r\n')


def _not_http_at_all(conn):
    conn.sendall(b'SSH-2.0-OpenSSH_9.0\r\n\r\n')


def _too_large(conn):
    conn.sendall(b'HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n' + b'x' * 5000)


def _too_large_until_close(conn):
    conn.sendall(b'HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n' + b'x' * 5000)
    conn.shutdown(socket.SHUT_WR)


def _chunked_cut_short(conn):
    conn.sendall(b'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n{"a":\r\n')
    conn.shutdown(socket.SHUT_WR)


def _bad_chunk_size(conn):
    conn.sendall(b'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{"a": 1}\r\n0\r\n\r\n')


def _closes_before_answering(conn):
    conn.shutdown(socket.SHUT_WR)


def _headers_then_close(conn):
    conn.sendall(b'HTTP/1.1 200 OK\r\nContent-Le')
    conn.shutdown(socket.SHUT_WR)


BROKEN = {
    'closes mid-body': (_closes_mid_body, 'closed mid-response'),
    'reset mid-body': (_resets_mid_body, ''),
    'garbage status line': (_garbage_status_line, 'malformed'),
    'not http at all': (_not_http_at_all, 'malformed'),
    'larger than max_body': (_too_large, 'too large'),
    'read-until-close larger than max_body': (_too_large_until_close, 'too large'),
    'chunked cut short': (_chunked_cut_short, 'closed mid-response'),
    'bad chunk size': (_bad_chunk_size, 'malformed'),
    'closes before answering': (_closes_before_answering, ''),
    'closes inside the head': (_headers_then_close, ''),
}


@pytest.mark.parametrize('case', list(BROKEN))
def test_broken_answer_is_a_call_error_and_the_loop_goes_on(raw, baseline, case):
    bad, words = BROKEN[case]
    server = raw(_first_bad_then_good(bad))
    con = rhc.Connection(server.url, max_body=1000)
    with pytest.raises(rhc.CallError) as info:
        rhc.wait(con.get('/'), timeout=5)
    assert words in str(info.value)
    assert info.value.status is None
    assert loop_keys() == baseline[1]
    assert not con.idle
    # the loop goes on: the next call (a new socket) succeeds
    assert rhc.wait(con.get('/'), timeout=5) == {'n': 2}
    assert con.connects == 2
    con.close()
    server.stop()
    assert wait_for(lambda: not new_fds(baseline[0]))


def test_chunked_response(raw):
    def chunked(server, conn, index):
        while server.request(conn):
            conn.sendall(b'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n'
                         b'Content-Type: application/json\r\n\r\n'
                         b'4\r\n{"a"\r\n'
                         b'a;ext=1\r\n: [1, 2, 3\r\n'
                         b'2\r\n]}\r\n'
                         b'0\r\nX-Trailer: t\r\n\r\n')
    server = raw(chunked)
    con = rhc.Connection(server.url)
    for _ in range(3):
        assert rhc.wait(con.get('/'), timeout=5) == {'a': [1, 2, 3]}
    assert server.accepted == 1


def test_read_until_close_body(raw):
    def old_style(server, conn, index):
        server.request(conn)
        conn.sendall(b'HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nall of it')
        conn.shutdown(socket.SHUT_WR)
    server = raw(old_style)
    con = rhc.Connection(server.url, is_json=False)
    assert rhc.wait(con.get('/'), timeout=5) == 'all of it'
    assert rhc.wait(con.get('/'), timeout=5) == 'all of it'
    assert server.accepted == 2
    assert not con.idle


def test_interim_100_continue_is_skipped(raw):
    def continuing(server, conn, index):
        server.request(conn)
        conn.sendall(b'HTTP/1.1 100 Continue\r\n\r\n' + ok(b'[1]'))
        server.idle()
    server = raw(continuing)
    assert rhc.wait(rhc.Connection(server.url).post('/', {'a': 1}), timeout=5) == [1]


def test_head_response_has_no_body(raw):
    def head(server, conn, index):
        while server.request(conn):
            if server.requests == 1:
                conn.sendall(b'HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\n')
            else:
                conn.sendall(ok(b'{"after": "head"}'))
    server = raw(head)
    con = rhc.Connection(server.url)
    assert rhc.wait(con.request('HEAD', '/'), timeout=5) is None
    assert rhc.wait(con.get('/'), timeout=5) == {'after': 'head'}
    assert server.accepted == 1


def test_connection_close_header_is_honoured(raw, baseline):
    def closing(server, conn, index):
        server.request(conn)
        conn.sendall(ok(extra=b'Connection: close\r\n'))
    server = raw(closing)
    con = rhc.Connection(server.url)
    assert rhc.wait(con.get('/'), timeout=5) == {'ok': True}
    assert rhc.wait(con.get('/'), timeout=5) == {'ok': True}
    assert not con.idle
    assert server.accepted == 2
    assert loop_keys() == baseline[1]


# -- keep-alive -------------------------------------------------------------------

def test_keep_alive_twenty_calls_one_accept(raw):
    server = raw(keep_answering)
    con = rhc.Connection(server.url)
    for i in range(1, 21):
        assert rhc.wait(con.get('/'), timeout=5) == {'n': i}
    assert server.accepted == 1
    assert con.connects == 1


def _answer_once_then_close(server, conn, index):
    """Answers one request as if keeping the connection, then drops it."""
    if server.request(conn):
        conn.sendall(ok(b'{"n": %d}' % server.requests))
        time.sleep(0.02)


def test_recovery_when_the_server_closed_the_idle_socket(raw, baseline):
    server = raw(_answer_once_then_close)
    con = rhc.Connection(server.url)
    assert rhc.wait(con.get('/'), timeout=5) == {'n': 1}
    assert wait_for(lambda: server.threads and not server.threads[0].is_alive())
    # the loop did not run meanwhile, so the pool has not noticed the close
    assert len(con.idle) == 1
    assert rhc.wait(con.get('/'), timeout=5) == {'n': 2}
    assert server.accepted == 2


def test_idle_socket_closed_by_the_server_leaves_the_pool(raw, baseline):
    server = raw(_answer_once_then_close)
    con = rhc.Connection(server.url)
    assert rhc.wait(con.get('/'), timeout=5) == {'n': 1}
    assert len(con.idle) == 1
    get_loop().run_until(lambda: not con.idle, timeout=2)
    assert not con.idle
    assert loop_keys() == baseline[1]
    assert rhc.wait(con.get('/'), timeout=5) == {'n': 2}


def test_recovery_when_the_server_resets_the_idle_socket(raw):
    def answer_once_then_reset(server, conn, index):
        if server.request(conn):
            conn.sendall(ok(b'{"n": %d}' % server.requests))
            time.sleep(0.02)
            reset(conn)
    server = raw(answer_once_then_reset)
    con = rhc.Connection(server.url)
    assert rhc.wait(con.get('/'), timeout=5) == {'n': 1}
    assert wait_for(lambda: server.threads and not server.threads[0].is_alive())
    assert rhc.wait(con.post('/', {'a': 1}), timeout=5) == {'n': 2}


def test_no_retry_after_the_reused_socket_sent_part_of_an_answer(raw):
    """A retry is only safe when nothing came back; a half answer is an error."""
    def half_then_close(server, conn, index):
        while server.request(conn):
            if server.requests == 1:
                conn.sendall(ok(b'{"n": 1}'))
            else:
                conn.sendall(b'HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\n{"n"')
                conn.shutdown(socket.SHUT_WR)
                return
    server = raw(half_then_close)
    con = rhc.Connection(server.url)
    assert rhc.wait(con.get('/'), timeout=5) == {'n': 1}
    with pytest.raises(rhc.CallError, match='closed mid-response'):
        rhc.wait(con.get('/'), timeout=5)
    assert server.accepted == 1


def test_close_empties_the_pool(raw, baseline):
    server = raw(keep_answering)
    con = rhc.Connection(server.url)
    rhc.wait(con.get('/'), timeout=5)
    assert len(con.idle) == 1
    con.close()
    assert not con.idle
    assert loop_keys() == baseline[1]
    server.stop()
    assert wait_for(lambda: not new_fds(baseline[0]))


def test_call_abandoned_by_wait_is_cancelled_at_once(raw, baseline):
    def silent(server, conn, index):
        server.request(conn)
        server.idle()
    server = raw(silent)
    con = rhc.Connection(server.url, timeout=5)
    with pytest.raises(rhc.CallError, match='^timeout$'):
        rhc.wait(con.get('/'), timeout=0.1)
    # wait gave up, and so did the call: its socket is gone already
    assert loop_keys() == baseline[1]


def test_large_bodies_both_ways(raw):
    big = b'{"data": "' + b'x' * (3 * 1024 * 1024) + b'"}'

    def echo_size(server, conn, index):
        conn.settimeout(5)
        data = b''
        while b'\r\n\r\n' not in data:
            data += conn.recv(65536)
        head, _, body = data.partition(b'\r\n\r\n')
        length = int([line.split(b':')[1] for line in head.split(b'\r\n')
                      if line.lower().startswith(b'content-length')][0])
        while len(body) < length:
            body += conn.recv(1024 * 1024)
        assert len(body) == length
        conn.sendall(ok(big))
        server.idle(2)
    server = raw(echo_size)
    con = rhc.Connection(server.url)
    result = rhc.wait(con.post('/', {'data': 'y' * (4 * 1024 * 1024)}), timeout=5)
    assert len(result['data']) == 3 * 1024 * 1024


def test_body_larger_than_the_default_max_body(raw):
    def huge(server, conn, index):
        server.request(conn)
        conn.sendall(b'HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n' % (11 * 1024 * 1024))
        server.idle(2)
    server = raw(huge)
    with pytest.raises(rhc.CallError, match='too large'):
        rhc.wait(rhc.Connection(server.url).get('/'), timeout=5)


def test_host_header():
    assert rhc.Connection('http://127.0.0.1').host_header == '127.0.0.1'
    assert rhc.Connection('http://127.0.0.1:8080').host_header == '127.0.0.1:8080'
    assert rhc.Connection('https://127.0.0.1:443').host_header == '127.0.0.1'
    assert rhc.Connection('http://[::1]:8080').host_header == '[::1]:8080'
    assert rhc.Connection('http://[::1]:8080').addresses == [(socket.AF_INET6, ('::1', 8080))]


def test_keyword_arguments_and_a_body_together(raw):
    """Questionable: with an explicit body, extra keyword arguments are dropped silently."""
    bodies = []

    def record(server, conn, index):
        conn.settimeout(5)
        data = conn.recv(65536)
        bodies.append(data.partition(b'\r\n\r\n')[2])
        conn.sendall(ok())
    server = raw(record)
    rhc.wait(rhc.Connection(server.url).post('/', {'a': 1}, b=2), timeout=5)
    assert bodies == [b'{"a": 1}']
