"""rhc.Stream and rhc.EventStream on the wire, read by h11 and sseclient-py.

h11 is the client for every answer: chunked bodies, close-delimited
HTTP/1.0 ones, HEAD, statuses without a body, and the next answer on the
same connection (keep-alive after a stream). sseclient-py, a third-party
SSE client, reads the event streams. The sources record what happened to
them in stream_handlers.EVENTS, so a test sees their `finally` blocks run
when the client goes away.
"""
import json

import h11
import pytest
from sseclient import SSEClient

import stream_handlers
from conftest import Running
from stream_support import H11Client, service_lines, wait_for


@pytest.fixture(scope='module')
def server():
    running = Running(service_lines())
    yield running
    running.stop()


@pytest.fixture(autouse=True)
def fresh_state():
    stream_handlers.EVENTS.clear()
    stream_handlers.PULLED['count'] = 0


@pytest.fixture
def client(server):
    clients = []

    def make(**options):
        clients.append(H11Client(server.port(), **options))
        return clients[-1]
    yield make
    for c in clients:
        c.close()


def connections(server):
    return server.call(lambda: len(server.service.servers['s'].connections))


def assert_chunked(fields):
    assert fields['transfer-encoding'] == 'chunked'
    assert 'content-length' not in fields
    assert 'date' in fields and 'x-request-id' in fields


def assert_next_answer_parses(c):
    """Keep-alive: the connection serves another request, and h11 reads its answer."""
    c.next_cycle()
    status, fields, body = c.response('GET', '/plain')
    assert status == 200 and 'events' in json.loads(body)


# -- Stream ---------------------------------------------------------------------

@pytest.mark.parametrize('target, status, content_type, body', [
    ('/chunks', 200, 'text/plain', b'one,two,three'),
    ('/empty', 200, 'application/octet-stream', b''),
    ('/status', 201, 'application/octet-stream', b'made'),
    ('/slow', 200, 'text/plain; charset=utf-8', b'part 0\npart 1\npart 2\n'),
    ('/waits', 200, 'application/octet-stream', b'after a wait'),
], ids=['sync', 'empty', 'status-and-headers', 'async', 'delayed-handler'])
def test_stream_is_chunked_and_the_connection_goes_on(client, target, status, content_type,
                                                     body):
    c = client()
    got_status, fields, got = c.response('GET', target)
    assert (got_status, fields['content-type'], got) == (status, content_type, body)
    assert_chunked(fields)
    if target == '/status':
        assert fields['x-made'] == 'yes'
    assert_next_answer_parses(c)


@pytest.mark.parametrize('target', ['/chunks', '/slow', '/events'])
def test_a_streamed_answer_has_one_access_log_line(client, caplog, target):
    c = client()
    with caplog.at_level('INFO', logger='rhc.access'):
        c.response('GET', target)
        assert wait_for(lambda: caplog.records)
    [line] = [r.getMessage() for r in caplog.records if r.name == 'rhc.access']
    assert f' GET {target} 200 ' in line
    assert f' out={c.received} trace=' in line     # every byte on the wire, head included


def test_async_source_is_closed_after_its_end(client):
    client().response('GET', '/slow')
    assert wait_for(lambda: stream_handlers.EVENTS == ['slow finally'])


def test_http10_is_sent_until_close(client):
    c = client()
    # h11 writes only HTTP/1.1: the request goes raw, and h11 reads the answer.
    c.request('GET', '/chunks', send=False)
    c.sock.sendall(b'GET /chunks HTTP/1.0\r\nHost: streams.test\r\n\r\n')
    status, fields = c.head()
    body = c.body()
    assert (status, body) == (200, b'one,two,three')
    assert 'transfer-encoding' not in fields and 'content-length' not in fields
    assert fields['connection'] == 'close'
    assert isinstance(c.next_event(), h11.ConnectionClosed)


def test_head_sends_the_head_only_and_takes_nothing_from_the_source(client):
    c = client()
    status, fields, body = c.response('HEAD', '/forever')
    assert (status, body) == (200, b'')
    assert_chunked(fields)
    # Had any body bytes followed the head, h11 would misread the next answer.
    assert_next_answer_parses(c)
    assert stream_handlers.PULLED['count'] == 0


def test_a_status_without_a_body_sends_none(client):
    c = client()
    status, fields, body = c.response('GET', '/nobody')
    assert (status, body) == (204, b'')
    assert 'transfer-encoding' not in fields and 'content-length' not in fields
    assert_next_answer_parses(c)


def test_pipelined_requests_wait_behind_a_stream(client):
    c = client()
    raw = c.request('GET', '/slow', send=False)
    second = h11.Connection(h11.CLIENT)     # the second request, made by h11 too
    raw += second.send(h11.Request(method='GET', target='/chunks',
                                   headers=[('Host', 'streams.test')]))
    raw += second.send(h11.EndOfMessage())
    c.sock.sendall(raw)
    assert c.head()[0] == 200 and c.body() == b'part 0\npart 1\npart 2\n'
    c.next_cycle()
    c.request('GET', '/chunks', send=False)
    assert c.head()[0] == 200 and c.body() == b'one,two,three'


@pytest.mark.parametrize('target', ['/fails', '/bad_item'])
def test_a_source_that_fails_cuts_the_body_short(client, target):
    c = client()
    c.request('GET', target)
    assert c.head()[0] == 200
    with pytest.raises(h11.RemoteProtocolError):
        c.body()        # the connection closes before the last chunk


def test_headers_that_would_split_the_head_answer_500(client):
    status, fields, body = client().response('GET', '/bad_header')
    assert status == 500 and json.loads(body)['error'] == 'internal server error'
    assert 'injected' not in fields


# -- the client goes away --------------------------------------------------------

@pytest.mark.parametrize('target, finally_ran', [
    ('/forever', 'sync finally'),
    ('/forever_async', 'async finally'),
    ('/idle', 'idle finally'),
], ids=['sync-generator', 'async-generator', 'async-waiting'])
def test_a_client_that_goes_away_runs_the_finally_blocks(server, client, target, finally_ran):
    c = client()
    c.request('GET', target)
    assert c.head()[0] == 200
    assert c.body(until=lambda data: len(data) >= 5)
    assert connections(server) == 1
    c.close()
    assert wait_for(lambda: finally_ran in stream_handlers.EVENTS), stream_handlers.EVENTS
    assert wait_for(lambda: connections(server) == 0)


# -- EventStream -----------------------------------------------------------------

def sse_events(body):
    """The events sseclient-py reads from a body: (event, data, id, retry)."""
    return [(e.event, e.data, e.id, e.retry) for e in SSEClient(iter([body])).events()]


def test_event_stream_framing(client):
    c = client()
    status, fields, body = c.response('GET', '/events')
    assert status == 200
    assert fields['content-type'] == 'text/event-stream'
    assert fields['cache-control'] == 'no-cache'
    assert fields['x-accel-buffering'] == 'no'
    assert_chunked(fields)
    assert sse_events(body) == [
        ('message', 'plain', None, None),
        ('message', 'two\nlines', None, None),
        ('message', '{"n":1,"text":"é"}', None, None),
        ('update', 'typed', '7', '1500'),
        ('message', 'numbered', '8', None),
    ]
    assert b'data: two\ndata: lines\n\n' in body     # one data line per line
    assert_next_answer_parses(c)


def test_each_event_goes_out_as_it_is_made(client):
    # The source waits forever after its first event: buffered, it would never show.
    c = client()
    c.request('GET', '/idle')
    assert c.head()[0] == 200
    assert c.body(until=lambda data: b'data: hello\n\n' in data) == b'data: hello\n\n'


def test_a_silence_is_filled_with_pings(client):
    status, _, body = client().response('GET', '/pinged')
    first, second = body.index(b'data: first\n\n'), body.index(b'data: second\n\n')
    assert b': ping\n\n' in body[first:second]
    assert [data for _, data, _, _ in sse_events(body)] == ['first', 'second']


@pytest.mark.parametrize('last_event_id, ids', [(None, ['1', '2', '3']), ('5', ['6', '7', '8'])])
def test_last_event_id_is_the_request_header(client, last_event_id, ids):
    headers = [('Last-Event-ID', last_event_id)] if last_event_id else []
    status, _, body = client().response('GET', '/resume', headers=headers)
    assert [(data, id_, retry) for _, data, id_, retry in sse_events(body)] == [
        (f'event {n}', n, '50') for n in ids]
    assert stream_handlers.EVENTS == [f'last_event_id={last_event_id}']


def test_event_stream_rejects_a_bad_ping():
    import rhc
    with pytest.raises(ValueError, match='ping'):
        rhc.EventStream([], ping=0)


def test_a_client_that_stops_reading_is_cut_off_after_the_idle_timeout():
    running = Running(service_lines(), environ={'SERVER_S_IDLE_TIMEOUT': '0.5'})
    c = H11Client(running.port(), rcvbuf=64 * 1024)
    try:
        c.request('GET', '/forever')    # and read nothing: the server's buffer fills
        assert wait_for(lambda: 'sync finally' in stream_handlers.EVENTS, timeout=10)
        assert wait_for(lambda: connections(running) == 0)
        assert stream_handlers.PULLED['count'] * 65536 < 32 * 1024 * 1024
    finally:
        c.close()
        running.stop()
