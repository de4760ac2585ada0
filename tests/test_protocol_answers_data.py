"""How the server answers, as data: bodies, Expect, errors, limits, keep-alive, HEAD.

The same fake transport and clock as test_protocol_data.py. An error is
answered and the connection closed with linger (the peer can still read
the answer); what the peer sends after it is never read.
"""
import json

import pytest

import handlers
from rhc.limits import Limits
from rhc.server_protocol import LINGER
from protocol_support import (EPOCH as T0, PONG, SERVICE, assert_lost, assert_open, fake_server,
                              get, install_fake_loop, open_server, parse_responses, post)


@pytest.fixture
def loop(monkeypatch):
    return install_fake_loop(monkeypatch)


@pytest.fixture
def server(loop):
    return fake_server(loop, SERVICE)


# -- bodies, however they arrive ---------------------------------------------------------------

def test_a_request_fed_one_byte_at_a_time(server, loop):
    protocol, transport = open_server(server)
    transport.receive_bytewise(get(b'/echo?x=y') + post(b'/echo', b'body'))
    first, second = parse_responses(transport.output)
    assert json.loads(first.body)['query'] == {'x': 'y'}
    assert json.loads(second.body)['body'] == 'body'


def test_a_chunked_body_with_extensions_and_a_trailer(server, loop):
    protocol, transport = open_server(server)
    transport.receive(
        b'POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n'
        b'5\r\nhello\r\n6;name=value\r\n world\r\nA\r\n, chunked!\r\n0\r\nTrailer: x\r\n\r\n')
    [answer] = parse_responses(transport.output)
    assert json.loads(answer.body)['body'] == 'hello world, chunked!'


def test_a_chunked_body_trickled_in(server, loop):
    protocol, transport = open_server(server)
    transport.receive(b'PUT /size HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n')
    payload = b''
    for n in range(20):
        piece = bytes([65 + n]) * (n + 1)
        payload += piece
        transport.receive(b'%x\r\n' % len(piece))
        transport.receive(piece + b'\r\n')
    transport.receive(b'0;ext=1\r\nTrailer: x\r\n\r\n')
    [answer] = parse_responses(transport.output)
    assert json.loads(answer.body)['size'] == len(payload)


# -- Expect: 100-continue -------------------------------------------------------------------

CONTINUE = b'HTTP/1.1 100 Continue\r\n\r\n'


def expecting(path, length, extra=b''):
    return (b'POST %s HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\nExpect: 100-continue\r\n%s\r\n'
            % (path, length, extra))


def test_100_continue_comes_after_routing_and_auth_then_the_body_is_read(loop, monkeypatch):
    checks = []
    original = handlers.allow_token

    def allow_token(request):
        checks.append(request.path)
        return original(request)
    monkeypatch.setattr(handlers, 'allow_token', allow_token)
    server = fake_server(loop, SERVICE)
    protocol, transport = open_server(server)
    transport.receive(expecting(b'/private', 5, b'X-Token: secret\r\n'))
    assert transport.output == CONTINUE and checks == ['/private']
    transport.receive(b'hello')
    [answer] = parse_responses(transport.output[len(CONTINUE):])
    assert answer.status == 200 and json.loads(answer.body)['body'] == 'hello'
    assert checks == ['/private']          # AUTH ran once, before the 100
    assert_open(transport)


def test_no_100_continue_when_the_body_came_with_the_head(server, loop):
    protocol, transport = open_server(server)
    transport.receive(expecting(b'/echo', 5) + b'hello')
    assert not transport.output.startswith(b'HTTP/1.1 100')
    [answer] = parse_responses(transport.output)
    assert json.loads(answer.body)['body'] == 'hello'


@pytest.mark.parametrize('path, length, extra, status', [
    (b'/nope', 5, b'', 404),
    (b'/ping', 5, b'', 405),
    (b'/private', 5, b'', 401),
    (b'/private', 5, b'X-Token: wrong\r\n', 401),
    (b'/echo', Limits().max_body + 1, b'', 413),
])
def test_an_expectation_that_would_be_refused_is_answered_at_once_and_closed(
        server, loop, path, length, extra, status):
    protocol, transport = open_server(server)
    transport.receive(expecting(path, length, extra))
    assert not transport.output.startswith(b'HTTP/1.1 100')
    [answer] = parse_responses(transport.output)
    assert answer.status == status and answer.headers['connection'] == 'close'
    assert transport.linger == LINGER and not transport.aborted
    transport.receive(b'hello')                 # the body is never read
    assert len(parse_responses(transport.output)) == 1


# -- protocol errors: answered, then closed with linger ----------------------------------------

MALFORMED = [
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
]


def assert_rejected(server, transport, status, answered=0):
    """The last answer is `status` with a JSON error, and the connection lingers, then ends."""
    answers = parse_responses(transport.output)
    assert len(answers) == answered + 1
    rejection = answers[-1]
    assert rejection.status == status, rejection.body
    assert rejection.headers['content-type'] == 'application/json; charset=utf-8'
    assert json.loads(rejection.body)['error']
    assert 'date' in rejection.headers and 'x-request-id' in rejection.headers
    assert rejection.headers['connection'] == 'close'
    # Closed with linger, not reset: the peer can still read the answer.
    assert transport.linger == LINGER and not transport.aborted
    assert transport.half_closed and not transport.closed
    transport.receive(get(b'/ping'))                # what the peer still sends is dropped
    server.loop.advance(LINGER)
    assert transport.closed and len(parse_responses(transport.output)) == answered + 1


@pytest.mark.parametrize('request_bytes', MALFORMED)
def test_a_malformed_request_is_400_and_closes_with_linger(server, loop, request_bytes):
    protocol, transport = open_server(server)
    transport.receive(request_bytes)
    assert_rejected(server, transport, 400)


def test_a_rejection_after_a_good_request_on_the_same_connection(server, loop):
    protocol, transport = open_server(server)
    transport.receive(get(b'/ping') + get(b'/ping', b'Bad Name: x\r\n'))
    assert_rejected(server, transport, 400, answered=1)


def test_an_unsupported_http_version_is_505(server, loop):
    protocol, transport = open_server(server)
    transport.receive(b'GET /ping HTTP/2.0\r\nHost: t\r\n\r\n')
    assert_rejected(server, transport, 505)


def test_lingering_ends_when_the_peer_closes(server, loop):
    protocol, transport = open_server(server)
    transport.receive(get(b'/ping', b'Bad Name: x\r\n'))
    loop.advance(LINGER / 2)
    transport.eof()
    assert transport.closed_at == T0 + LINGER / 2
    assert_lost(server, protocol, transport)


LIMITS = Limits(max_request_line=100, max_header=300, max_header_fields=5, max_body=100)


@pytest.mark.parametrize('request_bytes, status', [
    pytest.param(get(b'/echo?' + b'q' * 100), 414, id='request-line'),
    pytest.param(b'GET /' + b'q' * 200, 414, id='request-line-without-end'),
    pytest.param(get(b'/ping', b'X-Big: ' + b'b' * 300 + b'\r\n'), 431, id='header-block'),
    pytest.param(b'GET /ping HTTP/1.1\r\nHost: t\r\nX-Big: ' + b'b' * 400, 431,
                 id='header-block-without-end'),
    pytest.param(get(b'/ping', b''.join(b'X-%d: 1\r\n' % n for n in range(5))), 431,
                 id='header-fields'),
    pytest.param(post(b'/size', b'x' * 101), 413, id='body'),
    pytest.param(b'POST /size HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n'
                 b'40\r\n' + b'x' * 64 + b'\r\n40\r\n' + b'y' * 64 + b'\r\n0\r\n\r\n', 413,
                 id='chunked-body'),
])
def test_over_a_limit_is_rejected(loop, request_bytes, status):
    server = fake_server(loop, SERVICE, LIMITS)
    protocol, transport = open_server(server)
    transport.receive(request_bytes)
    assert_rejected(server, transport, status)


def test_what_fits_the_limits_is_served(loop):
    server = fake_server(loop, SERVICE, LIMITS)
    protocol, transport = open_server(server)
    line = get(b'/echo?' + b'q' * (100 - len(b'GET /echo? HTTP/1.1')),
               b'A: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n')
    transport.receive(line + post(b'/size', b'x' * 100))
    first, second = parse_responses(transport.output)
    assert first.status == 200 and json.loads(second.body)['size'] == 100


@pytest.mark.parametrize('request_bytes, status', [
    pytest.param(get(b'/echo?' + b'q' * 9000), 414, id='request-line'),
    pytest.param(get(b'/ping', b''.join(b'X-%d: 1\r\n' % n for n in range(100))), 431,
                 id='header-fields'),
    pytest.param(b'POST /size HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n'
                 % (10 * 1024 * 1024 + 1), 413, id='body'),
])
def test_the_default_limits(server, loop, request_bytes, status):
    protocol, transport = open_server(server)
    transport.receive(request_bytes)
    assert_rejected(server, transport, status)


# -- keep-alive and closing ---------------------------------------------------------------

def test_http_1_0_closes(server, loop):
    protocol, transport = open_server(server)
    transport.receive(b'GET /ping HTTP/1.0\r\n\r\n')
    [answer] = parse_responses(transport.output)
    assert answer.body == PONG and answer.headers['connection'] == 'close'
    # The client's last request, and nothing after it: no need to linger.
    assert transport.linger == 0


@pytest.mark.parametrize('after', [b'GET /ping HTTP/1.1\r\n', b'hello'])
def test_a_client_that_says_close_but_sends_more_is_lingered_for(server, loop, after):
    # Closing with its bytes unread would reset the connection, and could
    # destroy the answer before the client reads it.
    protocol, transport = open_server(server)
    transport.receive(b'GET /ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n' + after)
    [answer] = parse_responses(transport.output)
    assert answer.headers['connection'] == 'close'
    assert transport.linger == LINGER and not transport.aborted


def test_a_client_that_says_close_and_stops_is_closed_at_once(server, loop):
    protocol, transport = open_server(server)
    transport.receive(b'GET /ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')
    assert transport.linger == 0 and transport.closed


def test_http_1_0_keep_alive(server, loop):
    protocol, transport = open_server(server)
    transport.receive(b'GET /ping HTTP/1.0\r\nConnection: keep-alive\r\n\r\n')
    transport.receive(b'GET /echo HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n')
    assert_open(transport)
    transport.receive(b'GET /ping HTTP/1.0\r\n\r\n')
    first, second, third = parse_responses(transport.output)
    assert first.headers['connection'].lower() == 'keep-alive'
    assert json.loads(second.body)['path'] == '/echo'
    assert second.headers['connection'].lower() == 'keep-alive'
    assert third.headers['connection'] == 'close'
    assert transport.closing


def test_http_1_1_keeps_alive_without_saying_so(server, loop):
    protocol, transport = open_server(server)
    transport.receive(get(b'/ping') * 3)
    assert all('connection' not in a.headers for a in parse_responses(transport.output))
    assert_open(transport)


def test_connection_close_is_honoured_and_what_follows_is_not_answered(server, loop):
    protocol, transport = open_server(server)
    transport.receive(get(b'/ping', b'Connection: close\r\n') + get(b'/echo'))
    [answer] = parse_responses(transport.output)
    assert answer.status == 200 and answer.headers['connection'] == 'close'
    assert transport.linger == LINGER and not transport.aborted
    transport.receive(get(b'/echo'))
    loop.advance(LINGER)
    assert len(parse_responses(transport.output)) == 1
    assert_lost(server, protocol, transport)


def test_head_has_the_headers_of_get_and_no_body(server, loop):
    protocol, transport = open_server(server)
    transport.receive(get(b'/ping').replace(b'GET', b'HEAD', 1) + get(b'/ping'))
    head, got = parse_responses(transport.output, ['HEAD', 'GET'])
    assert head.status == 200 and head.body == b''
    assert head.headers['content-length'] == str(len(PONG))
    assert head.headers['content-type'] == got.headers['content-type']
    assert got.body == PONG
    assert transport.output.count(PONG) == 1


def test_an_absolute_form_target_and_a_percent_encoded_path(server, loop):
    protocol, transport = open_server(server)
    transport.receive(b'GET http://example.com/echo?a=1 HTTP/1.1\r\nHost: example.com\r\n\r\n'
                      + get(b'/%70ing'))
    echo, ping = parse_responses(transport.output)
    assert json.loads(echo.body)['path'] == '/echo'
    assert json.loads(echo.body)['query'] == {'a': '1'}
    assert ping.body == PONG
