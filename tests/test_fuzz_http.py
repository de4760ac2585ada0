"""Property-based fuzzing of the sans-IO HTTP parser, in both roles.

Whatever bytes arrive, split wherever the network likes:

- the request parser yields well-formed `Request`s or raises `ProtocolError`
  whose status is a 4xx, or 501/505 (an unsupported transfer coding or
  HTTP version, by design in rhc/http.py) -- never any other exception;
- the response parser yields well-formed `Response`s or raises
  `ProtocolError(502)` -- never any other exception;
- the outcome does not depend on where the input was split: the same
  messages, the same error (status and message), and, when there is no
  error, the same bytes still held (`buffered`, `in_progress`);
- a parser that raised stays dead: every later call raises the same error,
  and it holds no bytes.

Inputs are random bytes, generated valid messages, and the hand-written seed
corpora below, each mutated byte by byte. Hypothesis runs derandomized and
without an example database, so CI sees the same examples every time.
"""
import string
from typing import NamedTuple

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from http_support import cut, deliveries, feed
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

# Hand-written messages that reach what the generators below do not: absolute
# targets, '*', HTTP/1.0 keep-alive, trailers, interim responses, read-until-close.
SEEDS = [
    b'GET /a?b=c HTTP/1.1\r\nHost: h\r\nAccept: */*\r\n\r\n',
    b'POST /p HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello',
    b'POST /c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n'
    b'5;x=1\r\nhello\r\n0\r\nT: 1\r\n\r\n',
    b'GET http://h/x HTTP/1.0\r\nConnection: keep-alive\r\n\r\n',
    b'OPTIONS * HTTP/1.1\r\nHost: h\r\nX: 1\r\n\r\nGET https://h?q HTTP/1.1\r\nHost: h\r\n\r\n',
]
RESPONSE_SEEDS = [
    b'HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello',
    b'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n',
    b'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n',
    b'HTTP/1.0 200 OK\r\n\r\nuntil close',
]


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
def mutated(draw, messages):
    """A message, maybe sent twice in a row, then 1-6 byte-level edits."""
    data = bytearray(draw(messages) * draw(st.integers(1, 2)))
    for _ in range(draw(st.integers(1, 6))):
        if not data:
            break
        i = draw(st.integers(0, len(data) - 1))
        action = draw(st.integers(0, 5))
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
        elif action == 4:
            del data[i:draw(st.integers(i, len(data)))]   # truncate or cut a slice out
        else:           # at a line start, where folding and stray whitespace bite
            starts = [k + 2 for k in range(len(data) - 1) if data[k:k + 2] == b'\r\n']
            data.insert(draw(st.sampled_from(starts)) if starts else i, byte)
    return bytes(data)


# What gets mutated: generated messages, or the seed corpus.
REQUESTS = {'generated': valid_requests().map(lambda r: r[0]), 'seeds': st.sampled_from(SEEDS)}
RESPONSES = {'generated': valid_responses().map(lambda r: r[0]),
             'seeds': st.sampled_from(RESPONSE_SEEDS)}


def cut_points(data):
    return st.lists(st.integers(0, len(data)), max_size=8)


def splits(data):
    """`data` cut into pieces at random points, empty pieces included."""
    return cut_points(data).map(lambda points: cut(data, points))


# -- what a parse gave, checked ------------------------------------------------------

def _check_request(r):
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
    assert 100 <= r.status <= 999 and (r.status >= 200 or r.status == 101)
    assert r.version in ('HTTP/1.0', 'HTTP/1.1')
    for name, value in r.headers.items():
        assert name and TOKEN.issuperset(name) and name == name.lower()
        assert not set(value) & set('\r\n\x00')
    assert isinstance(r.body, bytes) and len(r.body) <= RESPONSE_LIMITS['max_body']
    if r.status in (204, 304) or r.status < 200:
        assert r.body == b''
    return (r.status, r.reason, dict(r.headers), r.body, r.keep_alive)


class Outcome(NamedTuple):
    """What one feeding gave, in a form that compares across splits."""
    messages: list          # each as its check returned it
    error: tuple | None     # (status, message)
    buffered: int
    in_progress: bool

    @property
    def status(self):
        return self.error and self.error[0]


def _outcome(fed, check, statuses, later_calls):
    """The Outcome of one feeding, each message checked, and the dead parser too."""
    messages, error, parser = fed
    out = [check(m) for m in messages]
    if error is None:
        return Outcome(out, None, parser.buffered, parser.in_progress)
    assert error.status in statuses, error
    assert isinstance(error.message, str) and error.message
    for call in later_calls:
        with pytest.raises(ProtocolError) as again:
            call(parser)
        assert again.value is error, 'the parser answered differently after a ProtocolError'
    assert parser.buffered == 0 and not parser.in_progress
    return Outcome(out, (error.status, error.message), 0, False)


def run_requests(pieces):
    parser = RequestParser(**LIMITS)
    return _outcome(feed(parser, pieces), _check_request, REQUEST_STATUSES,
                    [RequestParser.next_request, lambda p: p.feed(b'GET / HTTP/1.1\r\n')])


def run_responses(pieces, methods=('GET',) * 4, eof=True):
    parser = ResponseParser(**RESPONSE_LIMITS)
    for method in methods:
        parser.expect(method)
    return _outcome(feed(parser, pieces, eof), _check_response, {502},
                    [ResponseParser.next_response, lambda p: p.feed(b'HTTP/1.1 200 OK\r\n')])


def split_free(run, data, points, *args):
    """The outcome of `run`, the same whole, one byte at a time and cut at `points`."""
    outcomes = [run(pieces, *args) for pieces in deliveries(data, [points])]
    assert all(o == outcomes[0] for o in outcomes), (data, points)
    return outcomes[0]


# -- request side -----------------------------------------------------------------

@FUZZ
@given(st.binary(max_size=400))
def test_random_bytes_as_requests(data):
    run_requests([data])


@FUZZ
@given(st.binary(max_size=200).map(lambda d: b'GET / HTTP/1.1\r\nHost: h\r\n' + d)
       .flatmap(lambda d: st.tuples(st.just(d), cut_points(d))))
def test_random_header_bytes_after_a_valid_start(case):
    split_free(run_requests, *case)


@pytest.mark.parametrize('corpus', REQUESTS)
@FUZZ_MORE
@given(st.data())
def test_mutated_requests_any_split(corpus, data):
    message = data.draw(mutated(REQUESTS[corpus]))
    split_free(run_requests, message, data.draw(cut_points(message)))


@FUZZ
@given(st.lists(valid_requests(), min_size=1, max_size=4).flatmap(
    lambda reqs: st.tuples(st.just(reqs), splits(b''.join(d for d, _ in reqs)))))
def test_valid_pipelined_requests_parse_exactly(case):
    requests, pieces = case
    outcome = run_requests(pieces)
    # Valid requests may still be over the small limits: then the limit status.
    if outcome.status is None:
        assert [(m, t, v, b) for m, t, v, _, b, _ in outcome.messages] == \
            [e for _, e in requests]
        assert (outcome.buffered, outcome.in_progress) == (0, False)
    else:
        assert outcome.status in (413, 414, 431)
        assert len(outcome.messages) < len(requests)


@FUZZ
@given(st.data())
def test_mutated_pipeline_after_a_valid_request(data):
    first, expected = data.draw(valid_requests())
    rest = data.draw(mutated(REQUESTS['generated'] | REQUESTS['seeds']))
    both = run_requests(data.draw(splits(first + rest)))
    alone = run_requests([first])
    if alone.error is None:             # the first one is answered whatever follows it
        assert both.messages[:1] == alone.messages
    else:
        assert (both.messages, both.error) == ([], alone.error)


# -- response side ----------------------------------------------------------------

@FUZZ
@given(st.binary(max_size=400), st.booleans())
def test_random_bytes_as_responses(data, eof):
    run_responses([data], eof=eof)


@pytest.mark.parametrize('corpus', RESPONSES)
@FUZZ_MORE
@given(st.data())
def test_mutated_responses_any_split(corpus, data):
    message = data.draw(mutated(RESPONSES[corpus]))
    methods = data.draw(st.lists(st.sampled_from(['GET', 'HEAD', 'POST']), min_size=1,
                                 max_size=4))
    split_free(run_responses, message, data.draw(cut_points(message)), methods)


@FUZZ
@given(valid_responses().flatmap(lambda r: st.tuples(st.just(r), splits(r[0]))))
def test_valid_responses_parse_exactly(case):
    (data, code, body), pieces = case
    outcome = run_responses(pieces, methods=['GET'])
    assume(len(data) - len(body) <= RESPONSE_LIMITS['max_header'])
    assert outcome.error is None, data
    assert [(s, b) for s, _, _, b, _ in outcome.messages] == [(code, body)]


@FUZZ
@given(st.integers(0, 2 ** 70), st.sampled_from(['request', 'response']))
def test_any_chunk_size_is_a_status_not_a_crash(size, role):
    head = (b'POST / HTTP/1.1\r\nHost: h\r\n' if role == 'request' else b'HTTP/1.1 200 OK\r\n')
    tail = b'abc\r\n0\r\n\r\n'
    data = head + b'Transfer-Encoding: chunked\r\n\r\n%x\r\n' % size + tail
    if role == 'request':
        outcome = run_requests([data])
        out, error = outcome.messages, outcome.status
        if size == 3:
            assert error is None and [o[4] for o in out] == [b'abc']
        elif len('%x' % size) > 16:
            assert error == 400
        elif size > LIMITS['max_body']:
            assert error == 413
        elif size >= len(tail):
            assert (out, error) == ([], None)      # waiting for the rest of the chunk
            assert outcome.in_progress
        else:                   # the chunk takes some of the tail: what is left may not fit
            assert out == [] and error in (None, 400)
    else:
        outcome = run_responses([data], methods=['GET'])
        out, error = outcome.messages, outcome.status
        assert error in (None, 502)
        if size == 3:
            assert error is None and [o[3] for o in out] == [b'abc']
        elif size > 3:
            assert error == 502                    # cut short by the EOF, or too large
