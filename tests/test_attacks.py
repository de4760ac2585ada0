"""Hostile input on the wire, against a launched service (`python -m rhc.launch`).

Each case sends raw bytes to 127.0.0.1, checks the exact status (or that the
server refused to send a forged header), that a rejected connection is
closed with nothing answered after the rejection, and that a fresh GET on a
new connection still answers 200.

The second half points the client (`rhc.Connection`) at hostile servers
written here, for what tests/test_client_foreign.py does not already cover.
"""
import os
import random
import socket
import time

import pytest

import rhc
from rhc.http import ResponseParser
from rhc.loop import get_loop

from conftest import Launched
from client_support import RawServer, read_request, reset

HANDLERS = ['ping', 'echo', 'body_size', 'attack_header_injection', 'attack_bare_lf_header',
            'attack_bare_cr_header', 'attack_nul_header', 'attack_header_name_injection',
            'attack_non_latin1_header', 'attack_reason_injection',
            'attack_content_type_injection', 'attack_delayed_then_error',
            'attack_status_204_with_body', 'attack_status_304_with_body']

SERVICE = ['SERVER api 0', '  ROUTE /test/ping$', '    GET handlers.ping',
           '  ROUTE /echo$', '    GET handlers.echo', '    POST handlers.body_size']
SERVICE += [f'  ROUTE /{name}$\n    GET handlers.{name}' for name in HANDLERS[3:]]
SERVICE += ['SERVER small 0', '  ROUTE /test/ping$', '    GET handlers.ping',
            '  ROUTE /echo$', '    POST handlers.body_size']

SMALL = {'max_request_line': 256, 'max_header': 1024, 'max_header_fields': 10,
         'max_body': 1000}
ENV = {'SERVER_API_HOST': '127.0.0.1', 'SERVER_SMALL_HOST': '127.0.0.1'}
ENV.update({f'SERVER_SMALL_{key.upper()}': str(value) for key, value in SMALL.items()})


@pytest.fixture(scope='module')
def server(tmp_path_factory):
    path = tmp_path_factory.mktemp('attacks') / 'attacks.micro'
    path.write_text('\n'.join(SERVICE) + '\n')
    launched = Launched([str(path), '--no-access-log'], env=ENV)
    try:
        launched.wait_listening(count=2)
        yield launched
    finally:
        launched.kill()
    assert 'Traceback' not in ''.join(launched.log), ''.join(launched.log)


def exchange(port, data, methods=('GET',) * 8, timeout=3.0, pause=None, count=None):
    """Send `data` (bytes, or a list of pieces sent `pause` s apart) and read until
    the server closes or `timeout` passes (or, once `count` responses are in, 0.2 s
    more). Returns (responses, closed by server)."""
    parser = ResponseParser(max_body=64 * 1024 * 1024)
    for method in methods:
        parser.expect(method)
    sock = socket.create_connection(('127.0.0.1', port), timeout=timeout)
    responses, closed = [], False
    try:
        pieces = data if isinstance(data, list) else [data]
        try:
            for piece in pieces:
                sock.sendall(piece)
                if pause:
                    time.sleep(pause)
        except (BrokenPipeError, ConnectionResetError):
            pass                    # the server gave up on us first; read what it said
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            sock.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                chunk = sock.recv(256 * 1024)
            except socket.timeout:
                break
            except ConnectionResetError:
                chunk = b''
            if not chunk:
                closed = True
                parser.feed_eof()
            else:
                parser.feed(chunk)
            while (response := parser.next_response()) is not None:
                responses.append(response)
            if count is not None and len(responses) >= count:
                deadline = min(deadline, time.monotonic() + 0.2)
            if closed:
                break
    finally:
        sock.close()
    return responses, closed


def statuses(port, data, **kwargs):
    """([status, ...], closed); stops waiting once the statuses expected are in."""
    responses, closed = exchange(port, data, **kwargs)
    return [r.status for r in responses], closed


def still_serving(port):
    responses, _ = exchange(port, b'GET /test/ping HTTP/1.1\r\nHost: x\r\n'
                                  b'Connection: close\r\n\r\n')
    return [(r.status, r.body) for r in responses] == [(200, b'{"ping": "pong"}')]


def rejected(server, data, status, name='api', **kwargs):
    """`data` is answered with exactly one `status`, then the connection closes."""
    port = server.port(name)
    kwargs.setdefault('count', 1)
    got, closed = statuses(port, data, **kwargs)
    assert (got, closed) == ([status], True)
    assert still_serving(port)


def post(headers, body=b'', target=b'/echo'):
    return b'POST ' + target + b' HTTP/1.1\r\nHost: x\r\n' + headers + b'\r\n' + body


SMUGGLED = b'GET /test/ping HTTP/1.1\r\nHost: x\r\n\r\n'

# -- request smuggling ---------------------------------------------------------------

FRAMING = {
    'CL.TE': (post(b'Content-Length: 4\r\nTransfer-Encoding: chunked\r\n',
                   b'0\r\n\r\n' + SMUGGLED), 400),
    'TE.CL': (post(b'Transfer-Encoding: chunked\r\nContent-Length: 40\r\n',
                   b'5\r\nhello\r\n0\r\n\r\n' + SMUGGLED), 400),
    'TE.CL, CL zero': (post(b'Transfer-Encoding: chunked\r\nContent-Length: 0\r\n',
                            b'0\r\n\r\n' + SMUGGLED), 400),
    'TE chunked, identity': (post(b'Transfer-Encoding: chunked, identity\r\n',
                                  b'0\r\n\r\n' + SMUGGLED), 400),
    'TE identity, chunked (unsupported coding)': (
        post(b'Transfer-Encoding: identity, chunked\r\n', b'0\r\n\r\n' + SMUGGLED), 501),
    'TE gzip, chunked (unsupported coding)': (
        post(b'Transfer-Encoding: gzip, chunked\r\n', b'0\r\n\r\n'), 501),
    'TE chunked twice in one field': (post(b'Transfer-Encoding: chunked, chunked\r\n',
                                           b'0\r\n\r\n'), 400),
    'TE chunked in two fields': (post(b'Transfer-Encoding: chunked\r\n'
                                      b'Transfer-Encoding: chunked\r\n', b'0\r\n\r\n'), 400),
    'TE gzip only': (post(b'Transfer-Encoding: gzip\r\n', b'xxxx'), 400),
    'TE xchunked': (post(b'Transfer-Encoding: xchunked\r\n', b'0\r\n\r\n'), 400),
    'TE empty': (post(b'Transfer-Encoding: \r\n', b''), 400),
    'TE with a space before the colon': (post(b'Transfer-Encoding : chunked\r\n',
                                              b'0\r\n\r\n'), 400),
    'TE in HTTP/1.0': (b'POST /echo HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
                       400),
    'TE line-folded': (post(b'Transfer-Encoding:\r\n chunked\r\n', b'0\r\n\r\n'), 400),
    'CL twice, differing': (post(b'Content-Length: 5\r\nContent-Length: 6\r\n',
                                 b'hello!'), 400),
    'CL list, differing': (post(b'Content-Length: 5, 6\r\n', b'hello!'), 400),
    'CL negative': (post(b'Content-Length: -1\r\n'), 400),
    'CL plus sign': (post(b'Content-Length: +5\r\n', b'hello'), 400),
    'CL hex': (post(b'Content-Length: 0x5\r\n', b'hello'), 400),
    'CL empty': (post(b'Content-Length: \r\n'), 400),
    'CL with letters': (post(b'Content-Length: 5a\r\n', b'hello'), 400),
    'CL unicode digits': (post('Content-Length: \u0665\r\n'.encode('utf-8'), b'hello'), 400),
    'CL absurdly large': (post(b'Content-Length: 99999999999999999999999999\r\n'), 413),
    'chunk size overflowing 64 bits': (post(b'Transfer-Encoding: chunked\r\n',
                                            b'1' + b'0' * 16 + b'\r\nx\r\n0\r\n\r\n'), 400),
    'chunk size of 16 hex digits': (post(b'Transfer-Encoding: chunked\r\n',
                                         b'ffffffffffffffff\r\nx\r\n0\r\n\r\n'), 413),
    'chunk size a hundred digits long': (post(b'Transfer-Encoding: chunked\r\n',
                                              b'f' * 100 + b'\r\n'), 400),
    'chunk size negative': (post(b'Transfer-Encoding: chunked\r\n', b'-1\r\nx\r\n0\r\n\r\n'), 400),
    'chunk size 0x prefix': (post(b'Transfer-Encoding: chunked\r\n',
                                  b'0x5\r\nhello\r\n0\r\n\r\n'), 400),
    'chunk size missing': (post(b'Transfer-Encoding: chunked\r\n', b'\r\nhello\r\n0\r\n\r\n'),
                           400),
    'chunk longer than its size': (post(b'Transfer-Encoding: chunked\r\n',
                                        b'3\r\nhello\r\n0\r\n\r\n'), 400),
    'chunk size with bare LF': (post(b'Transfer-Encoding: chunked\r\n',
                                     b'5\nhello\r\n0\r\n\r\n'), 400),
    'chunk extension endless': (post(b'Transfer-Encoding: chunked\r\n',
                                     b'5;' + b'a' * 10000 + b'\r\nhello\r\n0\r\n\r\n'), 400),
}


@pytest.mark.parametrize('case', list(FRAMING))
def test_ambiguous_framing_is_rejected(server, case):
    data, status = FRAMING[case]
    rejected(server, data, status)


MALFORMED_TRAILERS = {
    'trailer with a bare LF (swallows the next request)': (
        b'0\r\nX: a\n\r\n' + SMUGGLED + b'\r\n'),
    'trailer name with a space': b'0\r\nBad Name: x\r\n\r\n',
    'trailer without a colon': b'0\r\nnocolon\r\n\r\n',
    'trailer with NUL': b'0\r\nX: a\x00b\r\n\r\n',
    'trailer line-folded': b'0\r\nX: a\r\n folded\r\n\r\n',
    'request line as a trailer': b'0\r\n' + SMUGGLED,
}


@pytest.mark.parametrize('case', list(MALFORMED_TRAILERS))
def test_malformed_trailers_are_400(server, case):
    rejected(server, post(b'Transfer-Encoding: chunked\r\n', MALFORMED_TRAILERS[case]), 400)


def test_well_formed_trailers_are_accepted(server):
    data = post(b'Transfer-Encoding: chunked\r\n', b'5\r\nhello\r\n0\r\nX-T: 1\r\nY: 2\r\n\r\n')
    got, closed = statuses(server.port(), data + SMUGGLED, count=2)
    assert (got, closed) == ([200, 200], False)


def test_nul_in_a_chunk_extension_is_400(server):
    rejected(server, post(b'Transfer-Encoding: chunked\r\n', b'5;e=\x00\r\nhello\r\n0\r\n\r\n'),
             400)


def test_identical_duplicate_content_length_is_one_length(server):
    port = server.port()
    got, closed = statuses(port, post(b'Content-Length: 5\r\nContent-Length: 5\r\n', b'hello')
                           + SMUGGLED, count=2)
    assert (got, closed) == ([200, 200], False)


def test_cl_te_smuggled_request_is_never_answered(server):
    """The 'body' of a CL.TE request is not read as a second request."""
    data, _ = FRAMING['CL.TE']
    responses, closed = exchange(server.port(), data)
    assert [r.status for r in responses] == [400] and closed
    assert b'pong' not in b''.join(r.body for r in responses)


# -- header injection by a handler -----------------------------------------------------

INJECTIONS = ['attack_header_injection', 'attack_bare_lf_header', 'attack_bare_cr_header',
              'attack_nul_header', 'attack_header_name_injection', 'attack_non_latin1_header',
              'attack_delayed_then_error']


def _raw_answer(port, path):
    sock = socket.create_connection(('127.0.0.1', port), timeout=3)
    sock.sendall(b'GET /%s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n' % path.encode())
    data = b''
    while chunk := sock.recv(65536):
        data += chunk
    sock.close()
    return data


@pytest.mark.parametrize('handler', INJECTIONS)
def test_handler_header_with_cr_lf_nul_is_not_sent(server, handler):
    raw = _raw_answer(server.port(), handler)
    head = raw.split(b'\r\n\r\n', 1)[0]
    assert raw.startswith(b'HTTP/1.1 500 ')
    assert b'evil' not in raw and b'Set-Cookie' not in raw and b'X-Bad' not in raw
    assert b'\x00' not in head
    assert still_serving(server.port())


@pytest.mark.parametrize('handler', ['attack_reason_injection', 'attack_content_type_injection'])
def test_respond_message_and_content_type_with_cr_lf_are_not_sent(server, handler):
    raw = _raw_answer(server.port(), handler)
    assert b'Set-Cookie' not in raw, raw
    assert raw.startswith(b'HTTP/1.1 500 ')
    assert still_serving(server.port())


@pytest.mark.parametrize('handler', ['attack_status_204_with_body',
                                     'attack_status_304_with_body'])
def test_no_body_statuses_send_no_body_whatever_the_handler_says(server, handler):
    """A body after a 204/304 would be read as the next response (response splitting)."""
    port = server.port()
    data = b'GET /%s HTTP/1.1\r\nHost: x\r\n\r\n' % handler.encode() + SMUGGLED
    sock = socket.create_connection(('127.0.0.1', port), timeout=3)
    sock.sendall(data)
    raw = b''
    deadline = time.monotonic() + 2
    while raw.count(b'HTTP/1.1') < 2 and time.monotonic() < deadline:
        raw += sock.recv(65536)
    sock.close()
    first, rest = raw.split(b'\r\n\r\n', 1)
    assert first.split(b' ')[1] in (b'204', b'304')
    assert b'content-length' not in first.lower()
    assert rest.startswith(b'HTTP/1.1 200 OK\r\n'), raw


# -- NUL and other bytes that have no place in a head ------------------------------------

BAD_BYTES = {
    'NUL in a header value': b'GET /test/ping HTTP/1.1\r\nHost: x\r\nX-A: a\x00b\r\n\r\n',
    'NUL in a header name': b'GET /test/ping HTTP/1.1\r\nHost: x\r\nX-\x00A: b\r\n\r\n',
    'NUL in the target': b'GET /test/ping\x00 HTTP/1.1\r\nHost: x\r\n\r\n',
    'NUL in the method': b'G\x00T /test/ping HTTP/1.1\r\nHost: x\r\n\r\n',
    'NUL before the request': b'\x00GET /test/ping HTTP/1.1\r\nHost: x\r\n\r\n',
    'DEL in the target': b'GET /test/\x7fping HTTP/1.1\r\nHost: x\r\n\r\n',
    'UTF-8 in the target': 'GET /test/p\u00efng HTTP/1.1\r\nHost: x\r\n\r\n'.encode(),
    'bare CR in a header value': b'GET /test/ping HTTP/1.1\r\nHost: x\r\nX-A: a\rb\r\n\r\n',
    'bare LF in a header value': b'GET /test/ping HTTP/1.1\r\nHost: x\r\nX-A: a\nb: c\r\n\r\n',
    'bare LF line endings': b'GET /test/ping HTTP/1.1\nHost: x\n\n',
    'header name with a space': b'GET /test/ping HTTP/1.1\r\nHost: x\r\nX A: b\r\n\r\n',
    'header without a colon': b'GET /test/ping HTTP/1.1\r\nHost: x\r\nnonsense\r\n\r\n',
    'empty header name': b'GET /test/ping HTTP/1.1\r\nHost: x\r\n: b\r\n\r\n',
    'obsolete line folding': b'GET /test/ping HTTP/1.1\r\nHost: x\r\nX-A: a\r\n b\r\n\r\n',
    'no Host in HTTP/1.1': b'GET /test/ping HTTP/1.1\r\n\r\n',
    'two Host fields': b'GET /test/ping HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n',
    'nine empty lines first': b'\r\n' * 9 + b'GET /test/ping HTTP/1.1\r\nHost: x\r\n\r\n',
    'a flood of empty lines': b'\r\n' * 100000,
    'TLS handshake bytes': (bytes.fromhex('16030100a5010000a10303')
                            + random.Random(1).randbytes(64) + b'\r\n\r\n'),
}


@pytest.mark.parametrize('case', list(BAD_BYTES))
def test_bad_bytes_in_the_head_are_400(server, case):
    rejected(server, BAD_BYTES[case], 400)


def test_nul_bytes_in_a_body_are_just_data(server):
    body = b'\x00' * 100 + b'\r\n\r\n\x00'
    responses, closed = exchange(server.port(), post(b'Content-Length: %d\r\n' % len(body), body),
                                 count=1)
    assert [r.status for r in responses] == [200] and not closed
    assert b'"size": 105' in responses[0].body


def test_latin1_header_value_is_accepted(server):
    got, _ = statuses(server.port(), b'GET /test/ping HTTP/1.1\r\nHost: x\r\nX-A: caf\xe9\r\n\r\n',
                      count=1)
    assert got == [200]


# -- request-line absurdities -------------------------------------------------------------

REQUEST_LINES = {
    'HTTP/2 connection preface': (b'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 505),
    'HTTP/1.2': (b'GET /test/ping HTTP/1.2\r\nHost: x\r\n\r\n', 505),
    'HTTP/9.9': (b'GET /test/ping HTTP/9.9\r\nHost: x\r\n\r\n', 505),
    'HTTP/3 (not d.d)': (b'GET /test/ping HTTP/3\r\nHost: x\r\n\r\n', 400),
    'HTTP/1.10': (b'GET /test/ping HTTP/1.10\r\nHost: x\r\n\r\n', 400),
    'lower-case version': (b'GET /test/ping http/1.1\r\nHost: x\r\n\r\n', 400),
    'missing version (HTTP/0.9)': (b'GET /test/ping\r\n\r\n', 400),
    'only a method': (b'GET\r\n\r\n', 400),
    'four parts': (b'GET /test/ping HTTP/1.1 extra\r\nHost: x\r\n\r\n', 400),
    'two spaces': (b'GET  /test/ping HTTP/1.1\r\nHost: x\r\n\r\n', 400),
    'tab separators': (b'GET\t/test/ping\tHTTP/1.1\r\nHost: x\r\n\r\n', 400),
    'leading space': (b' GET /test/ping HTTP/1.1\r\nHost: x\r\n\r\n', 400),
    'method not a token': (b'G(T /test/ping HTTP/1.1\r\nHost: x\r\n\r\n', 400),
    'relative target': (b'GET test/ping HTTP/1.1\r\nHost: x\r\n\r\n', 400),
    'ftp absolute form': (b'GET ftp://x/test/ping HTTP/1.1\r\nHost: x\r\n\r\n', 400),
    'absolute form without a host': (b'GET http:///test/ping HTTP/1.1\r\nHost: x\r\n\r\n',
                                     400),
    'asterisk with GET': (b'GET * HTTP/1.1\r\nHost: x\r\n\r\n', 400),
    'authority form (CONNECT)': (b'CONNECT 127.0.0.1:22 HTTP/1.1\r\nHost: x\r\n\r\n', 400),
    'SSH banner': (b'SSH-2.0-OpenSSH_9.0\r\n\r\n', 400),
}


@pytest.mark.parametrize('case', list(REQUEST_LINES))
def test_request_line_absurdities(server, case):
    data, status = REQUEST_LINES[case]
    rejected(server, data, status)


@pytest.mark.parametrize('target', [b'http://127.0.0.1/test/ping', b'HTTP://elsewhere:1/test/ping',
                                    b'https://x/test/ping?q=1'])
def test_absolute_form_is_served_by_its_path(server, target):
    got, closed = statuses(server.port(), b'GET ' + target + b' HTTP/1.1\r\nHost: x\r\n\r\n',
                            count=1)
    assert (got, closed) == ([200], False)


@pytest.mark.parametrize('target', [b'/test/ping/../../etc/passwd', b'/test/ping%20',
                                    b'/%2e%2e/%2e%2e/etc/passwd', b'//test/ping'])
def test_odd_paths_are_plain_404(server, target):
    got, closed = statuses(server.port(), b'GET ' + target + b' HTTP/1.1\r\nHost: x\r\n\r\n',
                            count=1)
    assert (got, closed) == ([404], False)


# A decoded path holding a control character is refused before routing, so
# an anchored `ROUTE /test/ping$` is never served `/test/ping` plus a newline
# (what a front end guarding `= /test/ping` would let through).
CONTROL_IN_PATH = [b'/test/ping%0A', b'/test/ping%0a', b'/test/ping%0D%0A', b'/test/ping%00',
                   b'/test/ping%1B[2J', b'/test/ping%7F', b'/test/ping%09',
                   b'/x%0A2026-01-01%20INFO%20rhc.access%20forged']


@pytest.mark.parametrize('target', CONTROL_IN_PATH)
def test_control_characters_in_a_decoded_path_are_400(server, target):
    got, closed = statuses(server.port(), b'GET ' + target + b' HTTP/1.1\r\nHost: x\r\n\r\n',
                            count=1)
    assert (got, closed) == ([400], False)
    assert still_serving(server.port())


def test_a_zero_padded_content_length_is_its_value(server):
    got, closed = statuses(server.port(), post(b'Content-Length: ' + b'0' * 30 + b'5\r\n',
                                               b'hello'), count=1)
    assert (got, closed) == ([200], False)


def test_expect_continue_to_no_route_is_answered_without_100(server):
    responses, closed = exchange(server.port(), post(b'Content-Length: 5000000\r\n'
                                                     b'Expect: 100-continue\r\n',
                                                     target=b'/nowhere'), count=1)
    assert [r.status for r in responses] == [404] and closed
    assert still_serving(server.port())


def test_unknown_method_is_405_or_404_not_a_crash(server):
    got, closed = statuses(server.port(), b'BREW /test/ping HTTP/1.1\r\nHost: x\r\n\r\n',
                            count=1)
    assert (got, closed) == ([405], False)


# -- oversized everything ------------------------------------------------------------------

def _fields(n, size=10):
    return b''.join(b'X-F%d: %s\r\n' % (i, b'v' * size) for i in range(n))


OVERSIZED_DEFAULT = {
    'request line over 8 KiB': (b'GET /' + b'a' * 8200 + b' HTTP/1.1\r\nHost: x\r\n\r\n', 414),
    'request line over 8 KiB, never ended': (b'GET /' + b'a' * 20000, 414),
    'header block over 64 KiB': (b'GET /test/ping HTTP/1.1\r\nHost: x\r\n'
                                 + _fields(70, 1000) + b'\r\n', 431),
    'one header over 64 KiB, never ended': (b'GET /test/ping HTTP/1.1\r\nHost: x\r\nX-A: '
                                            + b'a' * 70000, 431),
    '101 header fields': (b'GET /test/ping HTTP/1.1\r\nHost: x\r\n' + _fields(100) + b'\r\n',
                          431),
    'body over 10 MiB by Content-Length': (post(b'Content-Length: %d\r\n' % (10 * 2 ** 20 + 1)),
                                           413),
    'body over 10 MiB, 100-continue': (post(b'Content-Length: 20000000\r\n'
                                            b'Expect: 100-continue\r\n'), 413),
    'chunked body over 10 MiB': (post(b'Transfer-Encoding: chunked\r\n',
                                      b'a00000\r\n' + b'x' * (10 * 2 ** 20) + b'\r\n'
                                      + b'1\r\nx\r\n0\r\n\r\n'), 413),
    'trailers over 64 KiB': (post(b'Transfer-Encoding: chunked\r\n',
                                  b'0\r\n' + _fields(70, 1000) + b'\r\n'), 431),
}


@pytest.mark.parametrize('case', list(OVERSIZED_DEFAULT))
def test_oversized_at_default_limits(server, case):
    data, status = OVERSIZED_DEFAULT[case]
    rejected(server, data, status)


def test_at_default_limits_is_served(server):
    line = b'GET /test/ping?' + b'a' * (8192 - 30) + b' HTTP/1.1'
    assert len(line) <= 8192
    data = line + b'\r\nHost: x\r\n' + _fields(99, 500) + b'\r\n'
    got, closed = statuses(server.port(), data, count=1)
    assert (got, closed) == ([200], False)


OVERSIZED_CONFIGURED = {
    'request line': (b'GET /' + b'a' * 300 + b' HTTP/1.1\r\nHost: x\r\n\r\n', 414),
    'header block': (b'GET /test/ping HTTP/1.1\r\nHost: x\r\n' + _fields(5, 300) + b'\r\n',
                     431),
    'header fields': (b'GET /test/ping HTTP/1.1\r\nHost: x\r\n' + _fields(10, 1) + b'\r\n', 431),
    'body': (post(b'Content-Length: 1001\r\n', b'x' * 1001), 413),
    'chunked body': (post(b'Transfer-Encoding: chunked\r\n', b'3e9\r\n' + b'x' * 1001
                          + b'\r\n0\r\n\r\n'), 413),
    'chunked body in small chunks': (post(b'Transfer-Encoding: chunked\r\n',
                                          b'1\r\nx\r\n' * 1001 + b'0\r\n\r\n'), 413),
}


@pytest.mark.parametrize('case', list(OVERSIZED_CONFIGURED))
def test_oversized_at_configured_limits(server, case):
    """SERVER_SMALL_MAX_REQUEST_LINE=256, _MAX_HEADER=1024, _MAX_HEADER_FIELDS=10,
    _MAX_BODY=1000."""
    data, status = OVERSIZED_CONFIGURED[case]
    rejected(server, data, status, name='small')


def test_at_configured_limits_is_served(server):
    port = server.port('small')
    body = b'x' * 1000
    got, closed = statuses(port, post(b'Content-Length: 1000\r\n' + _fields(8, 50), body), count=1)
    assert (got, closed) == ([200], False)


# -- pipelining ---------------------------------------------------------------------------

def test_pipelined_garbage_after_a_valid_request(server):
    """The valid one is answered, then 400, then the connection closes."""
    data = SMUGGLED + b'GARBAGE\r\n\r\n' + SMUGGLED
    responses, closed = exchange(server.port(), data)
    assert [r.status for r in responses] == [200, 400] and closed
    assert responses[0].body == b'{"ping": "pong"}'
    assert responses[1].headers.get('connection') == 'close'
    assert still_serving(server.port())


@pytest.mark.parametrize('garbage', [b'\x00' * 50,
                                     random.Random(2).randbytes(200).replace(b'\r\n', b'..'),
                                     b'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n',
                                     b'GET /' + b'a' * 9000 + b' HTTP/1.1\r\n\r\n'])
def test_pipelined_garbage_of_every_kind(server, garbage):
    responses, closed = exchange(server.port(), SMUGGLED * 3 + garbage + b'\r\n\r\n' + SMUGGLED)
    got = [r.status for r in responses]
    assert got[:3] == [200, 200, 200] and len(got) == 4 and got[3] in (400, 414, 505)
    assert closed
    assert still_serving(server.port())


def test_a_thousand_pipelined_requests_in_one_send(server):
    responses, closed = exchange(server.port(), SMUGGLED * 1000, methods=['GET'] * 1000,
                                 timeout=10, count=1000)
    assert len(responses) == 1000 and not closed
    assert {r.status for r in responses} == {200}
    ids = [r.headers['x-request-id'] for r in responses]
    assert len(set(ids)) == 1000


def test_requests_after_connection_close_are_ignored(server):
    data = b'GET /test/ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n' + SMUGGLED * 3
    got, closed = statuses(server.port(), data)
    assert (got, closed) == ([200], True)


def test_a_request_split_over_many_sends(server):
    data = post(b'Transfer-Encoding: chunked\r\n', b'5\r\nhello\r\n0\r\n\r\n')
    pieces = [data[i:i + 3] for i in range(0, len(data), 3)]
    got, closed = statuses(server.port(), pieces, pause=0.001, count=1)
    assert (got, closed) == ([200], False)


def test_server_log_has_no_traceback_so_far(server):
    time.sleep(0.2)
    assert server.proc.poll() is None
    assert still_serving(server.port())


# -- the client against hostile servers (what test_client_foreign.py leaves out) ----------------

def open_fds():
    """The descriptors of this process, once the loop (selector, waker) exists."""
    get_loop()
    fds = set()
    for fd in os.listdir('/proc/self/fd'):
        try:
            fds.add((fd, os.readlink(f'/proc/self/fd/{fd}')))
        except OSError:
            pass
    return fds


def no_new_fds(before, wait=2.0):
    """No descriptor open now that was not open at `before` (threads may take a moment)."""
    deadline = time.monotonic() + wait
    while open_fds() - before and time.monotonic() < deadline:
        time.sleep(0.02)
    return not (open_fds() - before)


def Hostile(script):
    """A raw server on 127.0.0.1 running `script(conn, stopping)` per connection."""
    def run(server, conn, index):
        conn.settimeout(5)
        script(conn, server.stopping)
    return RawServer(run)


def _reset_at_once(conn, stop):
    reset(conn)


def _reset_after_reading(conn, stop):
    read_request(conn)
    reset(conn)


def _cl_and_te(conn, stop):
    read_request(conn)
    conn.sendall(b'HTTP/1.1 200 OK\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n'
                 b'0\r\n\r\n')
    stop.wait(2)


def _differing_lengths(conn, stop):
    read_request(conn)
    conn.sendall(b'HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}1')
    stop.wait(2)


def _nul_in_head(conn, stop):
    read_request(conn)
    conn.sendall(b'HTTP/1.1 200 OK\r\nX-A: \x00\r\nContent-Length: 2\r\n\r\n{}')
    stop.wait(2)


def _endless_head(conn, stop):
    read_request(conn)
    conn.sendall(b'HTTP/1.1 200 OK\r\n')
    while not stop.is_set():
        conn.sendall(b'X-Pad: ' + b'a' * 1000 + b'\r\n')


def _too_many_fields(conn, stop):
    read_request(conn)
    conn.sendall(b'HTTP/1.1 200 OK\r\n' + b'X-A: b\r\n' * 200 + b'Content-Length: 2\r\n\r\n{}')
    stop.wait(2)


def _endless_chunks(conn, stop):
    read_request(conn)
    conn.sendall(b'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n')
    while not stop.is_set():
        conn.sendall(b'400\r\n' + b'x' * 1024 + b'\r\n')


def _status_line_only(conn, stop):
    read_request(conn)
    conn.sendall(b'HTTP/1.1 200\r\n\r\n')       # no reason, no framing, then close
    conn.shutdown(socket.SHUT_WR)
    stop.wait(1)


def _http_09(conn, stop):
    read_request(conn)
    conn.sendall(b'{"no": "head at all"}')
    conn.shutdown(socket.SHUT_WR)


def _status_999_and_000(conn, stop):
    read_request(conn)
    conn.sendall(b'HTTP/1.1 000 Zero\r\nContent-Length: 0\r\n\r\n')
    stop.wait(1)


def _bare_lf(conn, stop):
    read_request(conn)
    conn.sendall(b'HTTP/1.1 200 OK\nContent-Length: 2\n\n{}')
    stop.wait(1)


def _silent_never_reads(conn, stop):
    stop.wait(5)


HOSTILE = {
    'reset as soon as accepted': (_reset_at_once, None),
    'reset after reading the request': (_reset_after_reading, None),
    'Content-Length and Transfer-Encoding': (_cl_and_te, 'malformed'),
    'differing Content-Length values': (_differing_lengths, 'malformed'),
    'NUL in the head': (_nul_in_head, 'malformed'),
    'endless head': (_endless_head, 'malformed'),
    'too many header fields': (_too_many_fields, 'malformed'),
    'endless chunked body': (_endless_chunks, 'too large'),
    'status 000': (_status_999_and_000, 'malformed'),
    'bare LF line endings': (_bare_lf, 'malformed'),
    'HTTP/0.9 style answer': (_http_09, None),
    'never reads, never answers': (_silent_never_reads, 'timeout'),
}


@pytest.mark.parametrize('case', list(HOSTILE))
def test_client_against_a_hostile_server(case):
    script, words = HOSTILE[case]
    hostile = Hostile(script)
    before = open_fds()
    try:
        con = rhc.Connection(hostile.url, max_body=100000, timeout=0.5)
        with pytest.raises(rhc.CallError) as info:
            rhc.wait(con.get('/'), timeout=5)
        if words:
            assert words in str(info.value)
        assert info.value.status is None
        assert not con.idle
        # the loop goes on: a timer still fires on it
        fired = []
        rhc.timer.add(lambda: fired.append(1), 10).start()
        get_loop().run_until(lambda: fired, timeout=2)
        assert fired
        con.close()
    finally:
        hostile.stop()
    assert no_new_fds(before), open_fds() - before


def test_client_many_calls_to_a_resetting_server_leave_no_socket():
    hostile = Hostile(_reset_after_reading)
    before = open_fds()
    try:
        con = rhc.Connection(hostile.url, timeout=2)
        results = []
        for _ in range(50):
            con.get('/')(lambda rc, result: results.append((rc, result)))
        get_loop().run_until(lambda: len(results) == 50, timeout=10)
        assert len(results) == 50
        assert all(rc == 1 and isinstance(r, rhc.CallError) for rc, r in results)
        con.close()
    finally:
        hostile.stop()
    assert no_new_fds(before), open_fds() - before


def test_client_interim_response_flood_is_cut_off():
    def flood(conn, stop):
        read_request(conn)
        while not stop.is_set():
            conn.sendall(b'HTTP/1.1 100 Continue\r\n\r\n' * 50)
            time.sleep(0.01)
    hostile = Hostile(flood)
    before = open_fds()
    results = []
    try:
        con = rhc.Connection(hostile.url, timeout=0.3)
        con.get('/')(lambda rc, result: results.append((rc, result)))
        get_loop().run_until(lambda: results, timeout=3)
        assert results and results[0][0] == 1 and isinstance(results[0][1], rhc.CallError)
    finally:
        hostile.stop()
        get_loop().run_until(lambda: False, timeout=0.3)    # let the client see the EOF
        con.close()
    assert no_new_fds(before), open_fds() - before
