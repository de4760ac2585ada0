"""Property-based fuzzing of the sans-IO HTTP parser, in both roles.

Whatever bytes arrive, split wherever the network likes:

- the request parser yields well-formed `Request`s or raises `ProtocolError`
  whose status is a 4xx, or 501/505 (an unsupported transfer coding or
  HTTP version, by design in rhc/http.py) -- never any other exception;
- the response parser yields well-formed `Response`s or raises
  `ProtocolError(502)` -- never any other exception;
- the outcome does not depend on where the input was split;
- a parser that raised stays dead: every later call raises the same error.

Hypothesis runs derandomized and without an example database, so CI sees the
same examples every time.
"""
import string

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from rhc import http
from rhc.http import ProtocolError, RequestParser, ResponseParser

# Bounded by max_examples; the timeout only guards a very slow CI machine.
pytestmark = pytest.mark.timeout(120)

FUZZ = settings(max_examples=300, deadline=None, derandomize=True, database=None,
                suppress_health_check=list(HealthCheck))
FUZZ_MORE = settings(FUZZ, max_examples=500)

# Small limits, so that fuzzing reaches the 413/414/431 paths as well.
LIMITS = dict(max_request_line=80, max_header=300, max_header_fields=8, max_body=200)
RESPONSE_LIMITS = dict(max_header=300, max_header_fields=8, max_body=200)

TOKEN = frozenset("!#$%&'*+-.^_`|~" + string.ascii_letters + string.digits)
REQUEST_STATUSES = {400, 413, 414, 431, 501, 505}
INTERESTING = b'\r\n :;,\t\x00\x7f\x80\xff0aAfF/?*-=#"\\' + b'HTTP/1.'


# -- strategies ------------------------------------------------------------------

tokens = st.text(alphabet=sorted(TOKEN), min_size=1, max_size=8)
field_values = st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0xff,
                                              blacklist_characters='\x7f'), max_size=20)
paths = st.text(alphabet=string.ascii_letters + string.digits + '/-._~%', max_size=20).map(
    lambda p: '/' + p)
queries = st.one_of(st.just(''), st.text(alphabet=string.ascii_letters + '=&', max_size=12)
                    .map(lambda q: '?' + q))
bodies = st.binary(max_size=60)
extra_headers = st.lists(st.tuples(tokens.filter(lambda n: n.lower() not in (
    'host', 'content-length', 'transfer-encoding', 'connection', 'expect')), field_values),
    max_size=4)


@st.composite
def valid_requests(draw):
    """(bytes of one valid request, what it should parse to)."""
    method = draw(st.sampled_from(['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS',
                                   'X-CUSTOM']))
    target = draw(paths) + draw(queries)
    version = draw(st.sampled_from(['HTTP/1.1', 'HTTP/1.1', 'HTTP/1.0']))
    body = draw(bodies)
    headers = [('Host', 'example.test')] if version == 'HTTP/1.1' else []
    headers += draw(extra_headers)
    framing = draw(st.sampled_from(['length', 'chunked', 'none']))
    if version == 'HTTP/1.0' and framing == 'chunked':
        framing = 'length'
    if framing == 'none':
        body = b''
    if framing == 'length' and (body or draw(st.booleans())):
        headers.append(('Content-Length', str(len(body))))
        payload = body
    elif framing == 'chunked':
        headers.append(('Transfer-Encoding', 'chunked'))
        sizes = draw(st.lists(st.integers(1, 20), max_size=4))
        payload, at = b'', 0
        for size in sizes:
            piece = body[at:at + size]
            if not piece:
                break
            ext = draw(st.sampled_from([b'', b';a=b', b' ;x']))
            payload += b'%x' % len(piece) + ext + b'\r\n' + piece + b'\r\n'
            at += len(piece)
        body = body[:at]
        payload += b'0\r\n' + draw(st.sampled_from([b'', b'Trailer: x\r\n'])) + b'\r\n'
    else:
        payload = b''
    head = f'{method} {target} {version}\r\n' + ''.join(f'{n}: {v}\r\n' for n, v in headers)
    data = head.encode('latin-1') + b'\r\n' + payload
    expected = (method, target, version, body)
    return data, expected


@st.composite
def valid_responses(draw):
    """(bytes of one valid response, its status, its body)."""
    status = draw(st.sampled_from([200, 201, 204, 301, 304, 400, 404, 418, 500, 503, 599]))
    reason = draw(st.sampled_from(['OK', 'Whatever', '', 'Two Words']))
    body = draw(bodies)
    headers = draw(extra_headers)
    framing = draw(st.sampled_from(['length', 'chunked', 'close']))
    if status in (204, 304):
        body, framing = b'', 'length'
    if framing == 'length':
        headers.append(('Content-Length', str(len(body))))
        payload = body
    elif framing == 'chunked':
        headers.append(('Transfer-Encoding', 'chunked'))
        payload = (b'%x\r\n' % len(body) + body + b'\r\n' if body else b'') + b'0\r\n\r\n'
    else:
        headers.append(('Connection', 'close'))
        payload = body
    head = f'HTTP/1.1 {status} {reason}\r\n' + ''.join(f'{n}: {v}\r\n' for n, v in headers)
    return head.encode('latin-1') + b'\r\n' + payload, status, body


@st.composite
def mutated(draw, strategy):
    """A valid message, then up to 6 byte-level edits: replace, insert, delete, duplicate."""
    data = bytearray(draw(strategy)[0])
    for _ in range(draw(st.integers(1, 6))):
        if not data:
            break
        i = draw(st.integers(0, len(data) - 1))
        action = draw(st.integers(0, 4))
        byte = draw(st.sampled_from(INTERESTING) | st.integers(0, 255))
        if action == 0:
            data[i] = byte
        elif action == 1:
            data.insert(i, byte)
        elif action == 2:
            del data[i]
        elif action == 3:
            j = draw(st.integers(i, min(len(data), i + 12)))
            data[i:i] = data[i:j]            # repeat a stretch (a header, a CRLF ...)
        else:
            del data[i:draw(st.integers(i, len(data)))]   # truncate or cut a slice out
    return bytes(data)


def splits(data):
    """Random split points of `data` into pieces, empty pieces included."""
    return st.lists(st.integers(0, len(data)), max_size=8).map(
        lambda cuts: [data[a:b] for a, b in zip([0] + sorted(cuts), sorted(cuts) + [len(data)])])


# -- drivers --------------------------------------------------------------------

def _check_request(r):
    assert isinstance(r, http.Request)
    assert r.method and TOKEN.issuperset(r.method)
    assert r.version in ('HTTP/1.0', 'HTTP/1.1')
    assert r.target and r.target.isascii() and r.target.isprintable() and ' ' not in r.target
    assert r.path == '*' or r.path.startswith('/')
    for name, value in r.headers.items():
        assert name and TOKEN.issuperset(name) and name == name.lower()
        assert not set(value) & set('\r\n\x00'), (name, value)
    assert isinstance(r.body, bytes) and len(r.body) <= LIMITS['max_body']
    if r.version == 'HTTP/1.1':
        assert 'host' in r.headers
    assert isinstance(r.keep_alive, bool)
    return (r.method, r.target, r.version, dict(r.headers), r.body, r.keep_alive)


def _check_response(r):
    assert isinstance(r, http.Response)
    assert 100 <= r.status <= 999 and (r.status >= 200 or r.status == 101)
    assert r.version in ('HTTP/1.0', 'HTTP/1.1')
    for name, value in r.headers.items():
        assert name and TOKEN.issuperset(name) and name == name.lower()
        assert not set(value) & set('\r\n\x00')
    assert isinstance(r.body, bytes) and len(r.body) <= RESPONSE_LIMITS['max_body']
    if r.status in (204, 304) or r.status < 200:
        assert r.body == b''
    return (r.status, r.reason, dict(r.headers), r.body, r.keep_alive)


def run_requests(pieces):
    """(requests parsed, error status or None) for bytes fed in these pieces."""
    parser = RequestParser(**LIMITS)
    out = []
    try:
        for piece in pieces:
            parser.feed(piece)
            while (r := parser.next_request()) is not None:
                out.append(_check_request(r))
    except ProtocolError as e:
        assert e.status in REQUEST_STATUSES, e
        assert isinstance(e.message, str) and e.message
        # dead from now on: the same error, whatever comes next
        for again in (lambda: parser.next_request(), lambda: parser.feed(b'GET / HTTP/1.1\r\n')):
            try:
                again()
            except ProtocolError as e2:
                assert e2.status == e.status
            else:
                raise AssertionError('parser answered after a ProtocolError')
        return out, e.status
    return out, None


def run_responses(pieces, methods=('GET',) * 4, eof=True):
    parser = ResponseParser(**RESPONSE_LIMITS)
    for method in methods:
        parser.expect(method)
    out = []
    try:
        for piece in pieces:
            parser.feed(piece)
            while (r := parser.next_response()) is not None:
                out.append(_check_response(r))
        if eof:
            parser.feed_eof()
            while (r := parser.next_response()) is not None:
                out.append(_check_response(r))
    except ProtocolError as e:
        assert e.status == 502, e
        try:
            parser.next_response()
        except ProtocolError as e2:
            assert e2.status == 502
        else:
            raise AssertionError('response parser answered after a ProtocolError')
        return out, e.status
    return out, None


# -- request side -----------------------------------------------------------------

@FUZZ
@given(st.binary(max_size=400))
def test_random_bytes_as_requests(data):
    run_requests([data])


@FUZZ
@given(st.binary(max_size=200).flatmap(lambda d: splits(b'GET / HTTP/1.1\r\nHost: h\r\n' + d)))
def test_random_header_bytes_after_a_valid_start(pieces):
    whole = run_requests([b''.join(pieces)])
    assert run_requests(pieces) == whole


@FUZZ_MORE
@given(st.data())
def test_mutated_requests_any_split(data):
    message = data.draw(mutated(valid_requests()))
    whole = run_requests([message])
    pieces = data.draw(splits(message))
    assert run_requests(pieces) == whole, (message, pieces)
    assert run_requests([message[i:i + 1] for i in range(len(message))]) == whole


@FUZZ
@given(st.lists(valid_requests(), min_size=1, max_size=4).flatmap(
    lambda reqs: st.tuples(st.just(reqs), splits(b''.join(d for d, _ in reqs)))))
def test_valid_pipelined_requests_parse_exactly(case):
    requests, pieces = case
    out, error = run_requests(pieces)
    # Valid requests may still be over the small limits: then the limit status.
    if error is None:
        assert [(m, t, v, b) for m, t, v, _, b, _ in out] == [e for _, e in requests]
    else:
        assert error in (413, 414, 431)
        assert len(out) < len(requests)


@FUZZ
@given(st.data())
def test_mutated_pipeline_after_a_valid_request(data):
    first, expected = data.draw(valid_requests())
    rest = data.draw(mutated(valid_requests()))
    out, error = run_requests(data.draw(splits(first + rest)))
    alone, alone_error = run_requests([first])
    if alone_error is None:             # the first one is answered whatever follows it
        assert out[:1] == alone
    else:
        assert (out, error) == ([], alone_error)


# -- response side ----------------------------------------------------------------

@FUZZ
@given(st.binary(max_size=400), st.booleans())
def test_random_bytes_as_responses(data, eof):
    run_responses([data], eof=eof)


@FUZZ_MORE
@given(st.data())
def test_mutated_responses_any_split(data):
    message = data.draw(mutated(valid_responses()))
    methods = data.draw(st.lists(st.sampled_from(['GET', 'HEAD', 'POST']), min_size=1,
                                 max_size=3))
    whole = run_responses([message], methods)
    assert run_responses(data.draw(splits(message)), methods) == whole
    assert run_responses([message[i:i + 1] for i in range(len(message))], methods) == whole


@FUZZ
@given(valid_responses().flatmap(lambda r: st.tuples(st.just(r), splits(r[0]))))
def test_valid_responses_parse_exactly(case):
    (data, status, body), pieces = case
    out, error = run_responses(pieces, methods=['GET'])
    assume(len(data) - len(body) <= RESPONSE_LIMITS['max_header'])
    assert error is None, data
    assert [(s, b) for s, _, _, b, _ in out] == [(status, body)]


@FUZZ
@given(st.integers(0, 2 ** 70), st.sampled_from(['request', 'response']))
def test_any_chunk_size_is_a_status_not_a_crash(size, role):
    head = (b'POST / HTTP/1.1\r\nHost: h\r\n' if role == 'request' else b'HTTP/1.1 200 OK\r\n')
    data = head + b'Transfer-Encoding: chunked\r\n\r\n%x\r\nabc\r\n0\r\n\r\n' % size
    if role == 'request':
        out, error = run_requests([data])
        if size == 3:
            assert error is None and [o[4] for o in out] == [b'abc']
        elif len('%x' % size) > 16:
            assert error == 400
        elif size > LIMITS['max_body']:
            assert error == 413
        elif size > 3:
            assert (out, error) == ([], None)      # waiting for the rest of the chunk
        else:
            assert error in (None, 400)
    else:
        out, error = run_responses([data], methods=['GET'])
        assert error in (None, 502)
        if size == 3:
            assert error is None and [o[3] for o in out] == [b'abc']
        elif size > 3:
            assert error == 502                    # cut short by the EOF, or too large
