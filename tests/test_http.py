"""The sans-IO HTTP parsers and serializers, fed whole, byte by byte and at random splits."""
import re

import pytest

from http_support import deliveries, feed, random_points
from rhc.http import (
    Headers, ProtocolError, RequestParser, ResponseParser,
    request_bytes, response_head,
)
from rhc.http.writer import CHUNKED, chunk, field_lines

SPLIT_SEEDS = range(5)


def short_id(value):
    """Readable test ids for long byte strings."""
    if isinstance(value, bytes):
        text = repr(value)[2:-1]
        return text if len(text) <= 60 else f'{text[:50]}...({len(value)} bytes)'
    return None


def _splits(data):
    """Ways to deliver data: whole, one byte at a time, and a few random cuttings."""
    return deliveries(data, [random_points(data, seed) for seed in SPLIT_SEEDS])


def _request_tuple(r):
    return (r.method, r.target, r.path, r.query_string, r.version, dict(r.headers),
            r.body, r.keep_alive)


def _response_tuple(r):
    return (r.status, r.reason, r.version, dict(r.headers), r.body, r.keep_alive)


def parse_requests(data, **limits):
    """Every request in data; the same whichever way data is split."""
    results = []
    for pieces in _splits(data):
        requests, error, parser = feed(RequestParser(**limits), pieces)
        assert error is None, f'{error!r} with {len(pieces)} pieces'
        assert parser.buffered == 0 and not parser.in_progress
        results.append([_request_tuple(r) for r in requests])
    assert all(r == results[0] for r in results)
    return requests


def parse_request(data, **limits):
    requests = parse_requests(data, **limits)
    assert len(requests) == 1
    return requests[0]


def request_error(data, **limits):
    """The ProtocolError data provokes; the same whichever way data is split."""
    errors = []
    for pieces in _splits(data):
        _, error, parser = feed(RequestParser(**limits), pieces)
        assert error is not None, f'no error with {len(pieces)} pieces'
        errors.append((error.status, error.message))
        with pytest.raises(ProtocolError) as again:      # the parser stays dead
            parser.next_request()
        assert again.value is error
    assert all(e == errors[0] for e in errors), errors
    return error


def _response_parser(methods, **limits):
    parser = ResponseParser(**limits)
    for method in methods:
        parser.expect(method)
    return parser


def parse_responses(data, methods=('GET',), eof=False, **limits):
    results = []
    for pieces in _splits(data):
        responses, error, _ = feed(_response_parser(methods, **limits), pieces, eof)
        assert error is None, f'{error!r} with {len(pieces)} pieces'
        results.append([_response_tuple(r) for r in responses])
    assert all(r == results[0] for r in results)
    return responses


def response_error(data, methods=('GET',), eof=False, **limits):
    errors = []
    for pieces in _splits(data):
        _, error, _ = feed(_response_parser(methods, **limits), pieces, eof)
        assert error is not None, f'no error with {len(pieces)} pieces'
        errors.append((error.status, error.message))
    assert all(e == errors[0] for e in errors), errors
    return error


# -- requests ---------------------------------------------------------------

def test_simple_get():
    r = parse_request(b'GET / HTTP/1.1\r\nHost: example.com\r\n\r\n')
    assert (r.method, r.target, r.path, r.query_string) == ('GET', '/', '/', '')
    assert r.version == 'HTTP/1.1'
    assert r.headers == {'host': 'example.com'}
    assert r.body == b''
    assert r.keep_alive is True


def test_query_split_raw():
    r = parse_request(b'GET /a%20b/c?x=1&y=%41?z HTTP/1.1\r\nHost: h\r\n\r\n')
    assert r.target == '/a%20b/c?x=1&y=%41?z'
    assert r.path == '/a%20b/c'
    assert r.query_string == 'x=1&y=%41?z'


def test_empty_query():
    r = parse_request(b'GET /p? HTTP/1.1\r\nHost: h\r\n\r\n')
    assert (r.path, r.query_string) == ('/p', '')


@pytest.mark.parametrize('target, path, query', [
    ('http://example.com/path?q=1', '/path', 'q=1'),
    ('HTTPS://example.com:8443/a/b', '/a/b', ''),
    ('http://example.com', '/', ''),
    ('http://example.com?x', '/', 'x'),
])
def test_absolute_form(target, path, query):
    r = parse_request(f'GET {target} HTTP/1.1\r\nHost: example.com\r\n\r\n'.encode())
    assert (r.target, r.path, r.query_string) == (target, path, query)


def test_options_star():
    r = parse_request(b'OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n')
    assert (r.path, r.query_string) == ('*', '')


def test_head():
    r = parse_request(b'HEAD /x HTTP/1.1\r\nHost: h\r\n\r\n')
    assert r.method == 'HEAD' and r.body == b''


def test_post_content_length():
    r = parse_request(b'POST /p HTTP/1.1\r\nHost: h\r\nContent-Length: 11\r\n\r\nhello world')
    assert r.body == b'hello world'
    assert r.headers['Content-Length'] == '11'


@pytest.mark.parametrize('size', [300 * 1024, 3 * 1024 * 1024 + 7])
@pytest.mark.parametrize('seed', range(3))
def test_a_large_body_held_in_pieces_is_whole_and_what_follows_is_kept(size, seed):
    # Past HOLD_FROM a Content-Length body is held in pieces and joined once:
    # the body, the bytes counted as buffered, and a request pipelined behind it.
    import random
    from rhc.http.reader import HOLD_FROM
    assert size > HOLD_FROM
    rng = random.Random(seed)
    body = rng.randbytes(size)
    head = b'POST /up HTTP/1.1\r\nHost: h\r\nContent-Length: %d\r\n\r\n' % size
    data = head + body + b'GET /next HTTP/1.1\r\nHost: h\r\n\r\n'
    parser = RequestParser(8190, 65536, 100, 10 * 1024 * 1024)
    fed, taken = 0, []
    while fed < len(data):
        piece = data[fed:fed + rng.choice([1, 1000, 65536, 200_000])]
        fed += len(piece)
        parser.feed(piece)
        while (message := parser.next_request()) is not None:
            taken.append(message)
        # What the parser holds and has not handed out yet (its head once parsed is out).
        if not taken:
            held = fed - len(head) if fed >= len(head) else fed
        else:
            held = fed - len(head) - size if len(taken) == 1 else 0
        assert parser.buffered == held
    first, second = taken
    assert first.body == body and second.path == '/next' and second.body == b''
    assert parser.buffered == 0 and not parser.in_progress


def test_content_length_zero_and_identical_repeats():
    r = parse_request(b'POST /p HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n')
    assert r.body == b''
    r = parse_request(b'POST /p HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n'
                      b'Content-Length: 3\r\n\r\nabc')
    assert r.body == b'abc'
    r = parse_request(b'POST /p HTTP/1.1\r\nHost: h\r\nContent-Length: 3, 3\r\n\r\nabc')
    assert r.body == b'abc'


def test_chunked_with_extensions_and_trailers():
    data = (b'POST /up HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: Chunked\r\n\r\n'
            b'5;name=value\r\nhello\r\n'
            b'1A \t; ext\r\n' + b'x' * 26 + b'\r\n'
            b'0\r\nX-Trailer: yes\r\nOther: 1\r\n\r\n')
    r = parse_request(data)
    assert r.body == b'hello' + b'x' * 26
    assert 'x-trailer' not in r.headers


def test_chunked_without_trailers_then_next_request():
    data = (b'POST /a HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n'
            b'3\r\nabc\r\n0\r\n\r\n'
            b'GET /b HTTP/1.1\r\nHost: h\r\n\r\n')
    a, b = parse_requests(data)
    assert a.body == b'abc' and b.path == '/b'


def test_three_pipelined_requests_in_one_feed():
    data = (b'GET /1 HTTP/1.1\r\nHost: h\r\n\r\n'
            b'POST /2 HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\n\r\nbody'
            b'GET /3 HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n')
    parser = RequestParser()
    parser.feed(data)
    requests = []
    while (r := parser.next_request()) is not None:
        requests.append(r)
    assert [r.path for r in requests] == ['/1', '/2', '/3']
    assert requests[1].body == b'body'
    assert [r.keep_alive for r in requests] == [True, True, False]
    assert parse_requests(data)[2].keep_alive is False


def test_leading_empty_lines_skipped():
    r = parse_requests(b'\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n'
                       b'POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\n\r\nx\r\n'
                       b'GET /z HTTP/1.1\r\nHost: h\r\n\r\n')
    assert [x.path for x in r] == ['/', '/', '/z']


def test_too_many_leading_empty_lines():
    assert request_error(b'\r\n' * 50 + b'GET / HTTP/1.1\r\nHost: h\r\n\r\n').status == 400


@pytest.mark.parametrize('version, connection, keep_alive', [
    ('1.1', None, True),
    ('1.1', 'close', False),
    ('1.1', 'Keep-Alive, CLOSE', False),
    ('1.1', 'keep-alive', True),
    ('1.1', 'upgrade', True),
    ('1.0', None, False),
    ('1.0', 'keep-alive', True),
    ('1.0', 'Keep-Alive', True),
    ('1.0', 'close', False),
])
def test_keep_alive(version, connection, keep_alive):
    head = f'GET / HTTP/{version}\r\nHost: h\r\n'
    if connection:
        head += f'Connection: {connection}\r\n'
    assert parse_request((head + '\r\n').encode()).keep_alive is keep_alive


def test_http10_without_host():
    r = parse_request(b'GET / HTTP/1.0\r\n\r\n')
    assert r.version == 'HTTP/1.0' and r.headers == {}


def test_expect_continue():
    parser = RequestParser()
    parser.feed(b'PUT /f HTTP/1.1\r\nHost: h\r\nExpect: 100-Continue\r\nContent-Length: 5\r\n\r\n')
    assert parser.next_request() is None
    assert parser.expect_continue is True
    assert parser.in_progress
    parser.continue_sent()
    assert parser.expect_continue is False
    parser.feed(b'ab')
    assert parser.next_request() is None
    assert parser.expect_continue is False
    parser.feed(b'cde')
    assert parser.next_request().body == b'abcde'
    assert parser.expect_continue is False and not parser.in_progress


def test_expect_continue_not_set_when_body_already_here():
    parser = RequestParser()
    parser.feed(b'PUT /f HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\nx')
    assert parser.next_request().body == b'x'
    assert parser.expect_continue is False


def test_expect_continue_cleared_when_body_arrives_unasked():
    parser = RequestParser()
    parser.feed(b'PUT /f HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\n'
                b'Transfer-Encoding: chunked\r\n\r\n')
    assert parser.next_request() is None and parser.expect_continue
    parser.feed(b'1\r\nx\r\n0\r\n\r\n')
    assert parser.next_request().body == b'x'
    assert parser.expect_continue is False


def test_buffered_and_in_progress():
    parser = RequestParser()
    assert parser.buffered == 0 and not parser.in_progress
    parser.feed(b'GET / HTTP/1.1\r\nHo')
    assert parser.next_request() is None
    assert parser.buffered == 18 and parser.in_progress
    parser.feed(b'st: h\r\n\r\nGET /2 HTTP/1.1\r\nHost: h\r\n\r\n')
    assert parser.buffered == 55
    assert parser.next_request().path == '/'
    assert parser.buffered == 28 and parser.in_progress
    assert parser.next_request().path == '/2'
    assert parser.buffered == 0 and not parser.in_progress
    assert parser.next_request() is None


def test_headers_case_insensitive():
    r = parse_request(b'GET / HTTP/1.1\r\nHost: h\r\nX-Thing:  spaced value \t\r\n'
                      b'Accept: a\r\nACCEPT: b\r\nSet-Cookie: c=1\r\nset-cookie: c=2\r\n'
                      b'Empty:\r\n\r\n')
    h = r.headers
    assert h['x-thing'] == h['X-THING'] == h.get('X-Thing') == 'spaced value'
    assert 'X-tHiNg' in h and 'missing' not in h and 1 not in h
    assert h['accept'] == 'a, b'
    assert h['set-cookie'] == 'c=2'
    assert h['empty'] == ''
    assert list(h) == ['host', 'x-thing', 'accept', 'set-cookie', 'empty']
    assert h.pop('ACCEPT') == 'a, b' and 'accept' not in h
    assert h.get('nope', 'd') == 'd'


def test_headers_class():
    h = Headers({'Content-Type': 'text/plain'}, X_Y='1')
    assert h == {'content-type': 'text/plain', 'x_y': '1'}
    h['ACCEPT'] = 'x'
    h.add('accept', 'y')
    h.add('Set-Cookie', 'a=1')
    h.add('Set-Cookie', 'a=2')
    assert h['Accept'] == 'x, y' and h['set-cookie'] == 'a=2'
    del h['Accept']
    assert 'accept' not in h
    assert h.setdefault('New', 'v') == 'v' and h['new'] == 'v'
    c = h.copy()
    assert isinstance(c, Headers) and c['CONTENT-TYPE'] == 'text/plain'
    with pytest.raises(KeyError):
        h['absent']


# -- request rejections -----------------------------------------------------

LONG = b'a' * 9000


@pytest.mark.parametrize('data, status', ids=short_id, argvalues=[
    # request line length, also while it is still incomplete
    (b'GET /' + LONG + b' HTTP/1.1\r\nHost: h\r\n\r\n', 414),
    (b'GET /' + LONG, 414),
    # header block size and field count
    (b'GET / HTTP/1.1\r\nHost: h\r\nX: ' + b'a' * 70000 + b'\r\n\r\n', 431),
    (b'GET / HTTP/1.1\r\nHost: h\r\nX: ' + b'a' * 70000, 431),
    (b'GET / HTTP/1.1\r\nHost: h\r\n' + b'X: 1\r\n' * 100 + b'\r\n', 431),
    # body size
    (b'POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 10485761\r\n\r\n', 413),
    (b'POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 99999999999999999999999\r\n\r\n', 413),
    # framing ambiguity
    (b'POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n', 400),
    (b'POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd', 400),
    (b'POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3, 4\r\n\r\nabcd', 400),
    (b'POST / HTTP/1.1\r\nHost: h\r\nContent-Length: +3\r\n\r\nabc', 400),
    (b'POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 0x3\r\n\r\nabc', 400),
    (b'POST / HTTP/1.1\r\nHost: h\r\nContent-Length: \r\n\r\n', 400),
    (b'POST / HTTP/1.1\r\nHost: h\r\nContent-Length: \xb2\r\n\r\nab', 400),
    (b'POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked, identity\r\n\r\n', 400),
    (b'POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\n\r\n', 400),
    (b'POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked, chunked\r\n\r\n', 400),
    (b'POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\xa0\r\n\r\n', 400),
    (b'POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n', 501),
    (b'POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\n'
     b'Transfer-Encoding: chunked\r\n\r\n', 501),
    (b'POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n', 400),
    # header syntax
    (b'GET / HTTP/1.1\r\nHost: h\r\nBad Name: x\r\n\r\n', 400),
    (b'GET / HTTP/1.1\r\nHost : h\r\n\r\n', 400),
    (b'GET / HTTP/1.1\r\nHost: h\r\n: x\r\n\r\n', 400),
    (b'GET / HTTP/1.1\r\nHost: h\r\nBad\tName: x\r\n\r\n', 400),
    (b'GET / HTTP/1.1\r\nHost: h\r\nBad(Name): x\r\n\r\n', 400),
    (b'GET / HTTP/1.1\r\nHost: h\r\nNoColon\r\n\r\n', 400),
    (b'GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n  folded\r\n\r\n', 400),
    (b'GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n\tfolded: b\r\n\r\n', 400),
    (b'GET / HTTP/1.1\r\nHost: h\r\nX: a\x00b\r\n\r\n', 400),
    (b'GET / HTTP/1.1\r\nHost: h\r\nX: a\rb\r\n\r\n', 400),
    (b'GET / HTTP/1.1\r\nHost: h\r\nX: a\nY: b\r\n\r\n', 400),
    (b'GET / HTTP/1.1\nHost: h\n\n', 400),
    (b'GET / HTTP/1.1\r\nHost: h\r\nHost: i\r\n\r\n', 400),
    # request line
    (b'GET / HTTP/1.1 \r\nHost: h\r\n\r\n', 400),
    (b'GET  / HTTP/1.1\r\nHost: h\r\n\r\n', 400),
    (b'GET /\r\nHost: h\r\n\r\n', 400),
    (b'GET / junk\r\nHost: h\r\n\r\n', 400),
    (b'GET / HTTP/1.x\r\nHost: h\r\n\r\n', 400),
    (b'G(T / HTTP/1.1\r\nHost: h\r\n\r\n', 400),
    (b'GET /caf\xc3\xa9 HTTP/1.1\r\nHost: h\r\n\r\n', 400),
    (b'GET /a\x01b HTTP/1.1\r\nHost: h\r\n\r\n', 400),
    (b'GET /a\tb HTTP/1.1\r\nHost: h\r\n\r\n', 400),
    (b'\x00GET / HTTP/1.1\r\nHost: h\r\n\r\n', 400),
    (b'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 505),
    (b'GET / HTTP/2.0\r\nHost: h\r\n\r\n', 505),
    (b'GET / HTTP/0.9\r\nHost: h\r\n\r\n', 505),
    (b'GET / HTTP/1.2\r\nHost: h\r\n\r\n', 505),
    # target
    (b'GET * HTTP/1.1\r\nHost: h\r\n\r\n', 400),
    (b'GET foo HTTP/1.1\r\nHost: h\r\n\r\n', 400),
    (b'CONNECT example.com:443 HTTP/1.1\r\nHost: h\r\n\r\n', 400),
    (b'GET ftp://h/x HTTP/1.1\r\nHost: h\r\n\r\n', 400),
    (b'GET http:///x HTTP/1.1\r\nHost: h\r\n\r\n', 400),
    # Host
    (b'GET / HTTP/1.1\r\n\r\n', 400),
    (b'GET / HTTP/1.1\r\nX: y\r\n\r\n', 400),
])
def test_request_rejected(data, status):
    assert request_error(data).status == status


CHUNKED_HEAD = b'POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n'


@pytest.mark.parametrize('body, status', ids=short_id, argvalues=[
    (b'g\r\nabc\r\n0\r\n\r\n', 400),
    (b'\r\nabc\r\n0\r\n\r\n', 400),
    (b';ext\r\nabc\r\n0\r\n\r\n', 400),
    (b'0x3\r\nabc\r\n0\r\n\r\n', 400),
    (b'-3\r\nabc\r\n0\r\n\r\n', 400),
    (b' 3\r\nabc\r\n0\r\n\r\n', 400),
    (b'1_0\r\n' + b'a' * 16 + b'\r\n0\r\n\r\n', 400),
    (b'00000000000000003\r\nabc\r\n0\r\n\r\n', 400),     # 17 digits
    (b'3\r\nabcX\r\n0\r\n\r\n', 400),                    # no CRLF after data
    (b'3\r\nabc\nX0\r\n\r\n', 400),
    (b'3' + b';x' * 3000 + b'\r\nabc\r\n0\r\n\r\n', 400),   # endless extension
    (b'A00001\r\n', 413),                                  # one chunk too large
    (b'0\r\nX: ' + b'a' * 70000 + b'\r\n\r\n', 431),      # trailers bounded
])
def test_chunked_rejected(body, status):
    assert request_error(CHUNKED_HEAD + body).status == status


def test_chunked_running_total_too_large():
    body = b'6\r\nabcdef\r\n' * 3 + b'0\r\n\r\n'
    assert request_error(CHUNKED_HEAD + body, max_body=17).status == 413
    assert parse_request(CHUNKED_HEAD + body, max_body=18).body == b'abcdef' * 3


def test_sixteen_digit_chunk_size_accepted():
    r = parse_request(CHUNKED_HEAD + b'0000000000000003\r\nabc\r\n0\r\n\r\n')
    assert r.body == b'abc'


def test_limits_are_parameters():
    head = b'GET /abcdefgh HTTP/1.1\r\nHost: h\r\nA: 1\r\nB: 2\r\n\r\n'
    assert parse_request(head, max_request_line=22).path == '/abcdefgh'
    assert request_error(head, max_request_line=21).status == 414
    assert parse_request(head, max_header_fields=3).headers['b'] == '2'
    assert request_error(head, max_header_fields=2).status == 431
    assert parse_request(head, max_header=23).headers['a'] == '1'
    assert request_error(head, max_header=22).status == 431
    post = b'POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nabcde'
    assert parse_request(post, max_body=5).body == b'abcde'
    assert request_error(post, max_body=4).status == 413


def test_request_line_exactly_at_limit_while_incomplete():
    line = b'GET /' + b'a' * (8192 - 14) + b' HTTP/1.1'
    assert len(line) == 8192
    r = parse_request(line + b'\r\nHost: h\r\n\r\n')
    assert len(r.path) == 8192 - 13


def test_error_messages_say_what():
    e = request_error(b'GET / HTTP/1.1\r\nHost: h\r\nBad Name: x\r\n\r\n')
    assert str(e) == e.message == "invalid header name 'Bad Name'"
    e = request_error(b'POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3, 4\r\n\r\n')
    assert 'Content-Length' in e.message
    assert 'Host' in request_error(b'GET / HTTP/1.1\r\n\r\n').message


def test_parser_stays_dead():
    parser = RequestParser()
    parser.feed(b'GET / HTTP/1.1\r\nBad Name: x\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n')
    with pytest.raises(ProtocolError) as first:
        parser.next_request()
    assert first.value.status == 400
    for call in (parser.next_request, lambda: parser.feed(b'GET / HTTP/1.1\r\n\r\n'),
                 parser.next_request):
        with pytest.raises(ProtocolError) as later:
            call()
        assert later.value is first.value
    assert parser.buffered == 0


def test_good_request_before_bad_is_returned():
    parser = RequestParser()
    parser.feed(b'GET /ok HTTP/1.1\r\nHost: h\r\n\r\nGET /bad HTTP/9.9\r\n\r\n')
    assert parser.next_request().path == '/ok'
    with pytest.raises(ProtocolError) as e:
        parser.next_request()
    assert e.value.status == 505


def test_obs_text_in_header_value_kept():
    r = parse_request(b'GET / HTTP/1.1\r\nHost: h\r\nX: caf\xe9\r\n\r\n')
    assert r.headers['x'] == 'caf\xe9'


# -- responses --------------------------------------------------------------

def test_response_content_length():
    [r] = parse_responses(b'HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-A: 1\r\n\r\nhello')
    assert (r.status, r.reason, r.version, r.body, r.keep_alive) == (200, 'OK', 'HTTP/1.1', b'hello', True)
    assert r.headers['x-a'] == '1'


def test_response_chunked():
    [r] = parse_responses(b'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n'
                          b'4;e=1\r\nwiki\r\n5\r\npedia\r\n0\r\nT: x\r\n\r\n')
    assert r.body == b'wikipedia' and r.keep_alive


def test_response_read_until_close():
    [r] = parse_responses(b'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nall of it', eof=True)
    assert r.body == b'all of it' and r.keep_alive is False


def test_response_read_until_close_waits_for_eof():
    parser = ResponseParser()
    parser.expect('GET')
    parser.feed(b'HTTP/1.0 200 OK\r\n\r\nabc')
    assert parser.next_response() is None
    parser.feed(b'def')
    assert parser.next_response() is None
    parser.feed_eof()
    r = parser.next_response()
    assert r.body == b'abcdef' and not r.keep_alive
    assert parser.next_response() is None


def test_response_head_and_no_body_statuses():
    data = (b'HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n'
            b'HTTP/1.1 204 No Content\r\n\r\n'
            b'HTTP/1.1 304 Not Modified\r\nContent-Length: 50\r\n\r\n'
            b'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok')
    rs = parse_responses(data, methods=('HEAD', 'DELETE', 'GET', 'GET'))
    assert [(r.status, r.body) for r in rs] == [(200, b''), (204, b''), (304, b''), (200, b'ok')]
    assert rs[0].headers['content-length'] == '100'


def test_response_interim_skipped():
    data = (b'HTTP/1.1 100 Continue\r\n\r\n'
            b'HTTP/1.1 103 Early Hints\r\nLink: </s.css>\r\n\r\n'
            b'HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nid')
    [r] = parse_responses(data, methods=('POST',))
    assert (r.status, r.reason, r.body) == (201, 'Created', b'id')


def test_response_empty_reason_and_keep_alive():
    [r] = parse_responses(b'HTTP/1.1 200 \r\nContent-Length: 0\r\n\r\n')
    assert (r.status, r.reason) == (200, '')
    [r] = parse_responses(b'HTTP/1.1 299\r\nContent-Length: 0\r\n\r\n')
    assert (r.status, r.reason) == (299, '')
    [r] = parse_responses(b'HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n')
    assert r.keep_alive is False
    [r] = parse_responses(b'HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n')
    assert r.keep_alive is False
    [r] = parse_responses(b'HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 0\r\n\r\n')
    assert r.keep_alive is True


@pytest.mark.parametrize('data', ids=short_id, argvalues=[
    b'HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort',
    b'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab',
    b'HTTP/1.1 200 OK\r\nContent-Le',
    b'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1',
])
def test_response_truncated_error_on_eof(data):
    e = response_error(data, methods=('GET', 'GET'), eof=True)
    assert (e.status, e.message) == (502, 'connection closed mid-response')


def test_response_clean_eof_is_not_an_error():
    assert parse_responses(b'', eof=True) == []
    [r] = parse_responses(b'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok', eof=True)
    assert r.body == b'ok'


@pytest.mark.parametrize('data', ids=short_id, argvalues=[
    b'HTTP/1.1 2OO OK\r\n\r\n',
    b'HTTP/2 200 OK\r\n\r\n',
    b'ICY 200 OK\r\n\r\n',
    b'HTTP/1.1 200 OK\r\nBad Name: x\r\n\r\n',
    b'HTTP/1.1 200 OK\r\nX: a\r\n b\r\n\r\n',
    b'HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab',
    b'HTTP/1.1 200 OK\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n',
    b'HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n',
    b'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n',
    b'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nab\r\n',
    b'HTTP/1.1 200 OK\r\nX: ' + b'a' * 70000 + b'\r\n\r\n',
    b'HTTP/1.1 200 OK\r\n' + b'X: 1\r\n' * 101 + b'\r\n',
])
def test_response_malformed_is_502(data):
    assert response_error(data).status == 502


def test_response_too_large():
    for data in (b'HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\n',
                 b'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n6\r\nabcdef\r\n6\r\n',
                 b'HTTP/1.1 200 OK\r\n\r\n' + b'x' * 11):
        e = response_error(data, max_body=10)
        assert e.status == 502 and 'too large' in e.message


def test_response_parser_stays_dead():
    parser = ResponseParser()
    parser.feed(b'HTTP/1.1 abc\r\n\r\n')
    with pytest.raises(ProtocolError) as first:
        parser.next_response()
    with pytest.raises(ProtocolError) as later:
        parser.next_response()
    assert later.value is first.value and first.value.status == 502


# -- serializers ------------------------------------------------------------

def test_response_head_exact():
    assert response_head(200, 'text/plain', 2) + b'ok' == \
        b'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok'
    assert response_head(404, None, 0) == b'HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n'
    assert response_head(599, None, 0) == b'HTTP/1.1 599 Unknown\r\nContent-Length: 0\r\n\r\n'
    assert response_head(200, None, 0, reason='Fine') == \
        b'HTTP/1.1 200 Fine\r\nContent-Length: 0\r\n\r\n'
    assert response_head(200, 'a/b', 5, b'X-A: 1\r\n') == \
        b'HTTP/1.1 200 OK\r\nContent-Type: a/b\r\nContent-Length: 5\r\nX-A: 1\r\n\r\n'


def test_response_head_without_a_body_has_no_framing():
    for status in (100, 204, 304):
        head = response_head(status, 'text/plain', 10, b'X-A: 1\r\n')
        assert b'Content-Length' not in head and b'Content-Type' not in head
        assert head.endswith(b'X-A: 1\r\n\r\n')


def test_response_head_chunked():
    head = response_head(200, 'text/csv', CHUNKED)
    assert head == b'HTTP/1.1 200 OK\r\nContent-Type: text/csv\r\nTransfer-Encoding: chunked\r\n\r\n'
    [r] = parse_responses(head + chunk(b'a,b\n') + chunk(b'1,2\n') + b'0\r\n\r\n')
    assert r.body == b'a,b\n1,2\n'


def test_request_bytes_exact():
    assert request_bytes('GET', '/x?y=1', [('Host', 'h')]) == b'GET /x?y=1 HTTP/1.1\r\nHost: h\r\n\r\n'


def test_round_trip_request():
    body = b'{"a": 1}'
    data = request_bytes('POST', '/items?x=1', [('Host', 'svc:8080'), ('Content-Type', 'application/json'),
                                                 ('Content-Length', str(len(body)))], body)
    r = parse_request(data)
    assert (r.method, r.path, r.query_string, r.body) == ('POST', '/items', 'x=1', body)
    assert r.headers['content-type'] == 'application/json'


def test_round_trip_response():
    data = response_head(201, None, 3, b'X-Request-Id: abc\r\n') + b'xyz'
    [r] = parse_responses(data, methods=('POST',))
    assert (r.status, r.reason, r.body, r.headers['x-request-id']) == (201, 'Created', b'xyz', 'abc')
    data = response_head(204, None, 0, b'X-A: 1\r\n')
    assert parse_responses(data)[0].status == 204


def test_client_and_server_in_memory():
    server, client = RequestParser(), ResponseParser()
    for method, body in (('GET', b''), ('HEAD', b''), ('PUT', b'data')):
        client.expect(method)
        server.feed(request_bytes(method, '/r', [('Host', 'h'), ('Content-Length', str(len(body)))], body))
        request = server.next_request()
        assert (request.method, request.body) == (method, body)
        answer = b'' if method == 'HEAD' else b'echo:' + request.body
        client.feed(response_head(200, None, len(b'echo:' + request.body)) + answer)
        response = client.next_response()
        assert response.body == answer


@pytest.mark.parametrize('headers', [
    [('X-Bad', 'a\r\nInjected: 1')],
    [('X-Bad', 'a\nb')],
    [('X-Bad', 'a\rb')],
    [('X-Bad', 'a\x00b')],
    [('Bad Name', 'v')],
    [('Bad:Name', 'v')],
    [('', 'v')],
    [('X-Bad', 'snow \u2603')],
])
def test_serializers_refuse_bad_fields(headers):
    with pytest.raises(ValueError, match=re.escape(repr(headers[0][0]))):
        field_lines(headers)
    with pytest.raises(ValueError, match=re.escape(repr(headers[0][0]))):
        request_bytes('GET', '/', headers)


def test_serializers_refuse_bad_first_line():
    with pytest.raises(ValueError):
        request_bytes('G T', '/', [])
    with pytest.raises(ValueError):
        request_bytes('GET', '/a b', [])
    with pytest.raises(ValueError):
        request_bytes('GET', '/a\r\nX: 1', [])
    with pytest.raises(ValueError):
        response_head(200, None, 0, reason='OK\r\nX: 1')
    with pytest.raises(ValueError):
        response_head(200, 'text/plain\r\nX: 1', 0)


def test_field_lines_take_any_values_and_leave_framing_to_the_writer():
    assert field_lines([('X-N', 7), ('Content-Length', 99), ('Transfer-Encoding', 'chunked'),
                        ('content-type', 'a/b')]) == ('a/b', b'X-N: 7\r\n')
