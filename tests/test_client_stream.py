"""Connection.stream and Connection.events against rhc and against aiohttp's StreamResponse.

aiohttp (its own HTTP implementation, on asyncio in a thread) is the
outside server: chunked and Content-Length bodies, a big body whose
writes block when the client stops reading (how much it managed to write
shows the backpressure), Server-Sent Events with ids and `retry`. A
hand-written socket server sends a body delimited by the connection's
close. rhc's own server is the other side of every case too.
"""
import asyncio
import socket
import threading

import pytest
from aiohttp import web

import rhc
import stream_handlers
from client_support import RawServer, read_request, refused_port
from conftest import Running
from stream_support import service_lines, wait_for

MIB = 1024 * 1024
CHUNK = b'x' * 65536


class AiohttpServer:
    """An aiohttp app served from its own asyncio loop in a thread; `seen` records events."""

    def __init__(self):
        self.seen = []
        self.written = 0
        app = web.Application()
        for path, handler in [('/chunked', self.chunked), ('/length', self.length),
                              ('/big', self.big), ('/events', self.events),
                              ('/forever', self.forever), ('/nocontent', self.nocontent),
                              ('/notsse', self.notsse), ('/error', self.error),
                              ('/silent', self.silent), ('/empty_events', self.empty_events)]:
            app.router.add_get(path, handler)
        self.loop = asyncio.new_event_loop()
        self.runner = web.AppRunner(app, shutdown_timeout=0.5)
        self.loop.run_until_complete(self.runner.setup())
        site = web.TCPSite(self.runner, '127.0.0.1', 0)
        self.loop.run_until_complete(site.start())
        self.port = site._server.sockets[0].getsockname()[1]
        self.url = f'http://127.0.0.1:{self.port}'
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def stop(self):
        asyncio.run_coroutine_threadsafe(self.runner.cleanup(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()

    async def chunked(self, request):
        response = web.StreamResponse()
        response.enable_chunked_encoding()
        await response.prepare(request)
        for piece in (b'alpha', b'beta', b'gamma'):
            await response.write(piece)
        await response.write_eof()
        return response

    async def length(self, request):
        response = web.StreamResponse()
        response.content_length = 12
        await response.prepare(request)
        for piece in (b'four', b'more', b'four'):
            await response.write(piece)
            await asyncio.sleep(0.01)
        await response.write_eof()
        return response

    async def big(self, request):
        """200 MiB, 64 KiB a write; each write waits while the client's socket is full."""
        response = web.StreamResponse()
        await response.prepare(request)
        try:
            for _ in range(200 * 16):
                await response.write(CHUNK)
                self.written += len(CHUNK)
        except (ConnectionError, asyncio.CancelledError):
            self.seen.append('big: client gone')
            raise
        await response.write_eof()
        return response

    async def _sse(self, request):
        response = web.StreamResponse(headers={'Content-Type': 'text/event-stream',
                                               'Cache-Control': 'no-cache'})
        await response.prepare(request)
        return response

    async def events(self, request):
        """Two events a connection, numbered on from Last-Event-ID, then the stream ends."""
        last = request.headers.get('Last-Event-ID')
        self.seen.append(f'events: Last-Event-ID={last}')
        start = int(last or 0)
        response = await self._sse(request)
        await response.write(b'retry: 20\n\n')
        for n in (start + 1, start + 2):
            await response.write(f'id: {n}\ndata: event {n}\n\n'.encode())
        await response.write_eof()
        return response

    async def forever(self, request):
        response = await self._sse(request)
        try:
            while True:
                await response.write(b'data: tick\n\n')
                await asyncio.sleep(0.01)
        except (ConnectionError, asyncio.CancelledError):
            self.seen.append('forever: client gone')
            raise

    async def empty_events(self, request):
        self.seen.append('empty_events')
        response = await self._sse(request)
        await response.write(b'retry: 10\n: nothing to say\n\n')
        await response.write_eof()
        return response

    async def nocontent(self, request):
        self.seen.append('nocontent')
        return web.Response(status=204)

    async def notsse(self, request):
        self.seen.append('notsse')
        return web.Response(text='plain text')

    async def error(self, request):
        self.seen.append('error')
        return web.Response(status=503, text='try later')

    async def silent(self, request):
        response = web.StreamResponse()
        await response.prepare(request)
        await response.write(b'something')
        await asyncio.sleep(0.6)     # past the client's timeout, then done
        return response


@pytest.fixture(scope='module')
def aio():
    server = AiohttpServer()
    yield server
    server.stop()


@pytest.fixture(scope='module')
def own():
    running = Running(service_lines())
    yield running
    running.stop()


@pytest.fixture(autouse=True)
def fresh_state():
    stream_handlers.EVENTS.clear()
    stream_handlers.PULLED['count'] = 0


def close_delimited(server, conn, index):
    read_request(conn)
    conn.sendall(b'HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil ')
    conn.sendall(b'the end')
    conn.close()


def run(coroutine, timeout=20):
    return rhc.wait(coroutine, timeout=timeout)


async def collect(stream):
    return [piece async for piece in stream]


# -- stream -----------------------------------------------------------------------

@pytest.mark.parametrize('side, path, body, pooled', [
    ('aiohttp', '/chunked', b'alphabetagamma', True),
    ('aiohttp', '/length', b'fourmorefour', True),
    ('rhc', '/chunks', b'one,two,three', True),
    ('rhc', '/slow', b'part 0\npart 1\npart 2\n', True),
    ('raw', '/', b'until the end', False),
], ids=['aiohttp-chunked', 'aiohttp-length', 'rhc-chunked', 'rhc-async', 'close-delimited'])
def test_stream_reads_the_body_in_every_framing(aio, own, side, path, body, pooled):
    raw = RawServer(close_delimited) if side == 'raw' else None
    try:
        url = {'aiohttp': aio.url, 'rhc': own.url, 'raw': raw and raw.url}[side]
        connection = rhc.Connection(url)
        stream = connection.stream('GET', path)
        assert b''.join(run(collect(stream))) == body
        assert stream.status == 200
        assert len(connection.idle) == (1 if pooled else 0)
        assert b''.join(run(collect(connection.stream('GET', path)))) == body
        assert connection.connects == (1 if pooled else 2)     # the second reused the first
        connection.close()
    finally:
        if raw is not None:
            raw.stop()


async def take_one_then_wait(stream, seconds):
    async for piece in stream:
        await rhc.sleep(seconds)      # not taking chunks: the socket is not read
        return piece, stream._receiver.buffered


@pytest.mark.parametrize('side', ['aiohttp', 'rhc'])
def test_a_consumer_that_stops_taking_chunks_stops_the_reading(aio, own, side):
    aio.written = 0
    connection = rhc.Connection(aio.url if side == 'aiohttp' else own.url)
    stream = connection.stream('GET', '/big' if side == 'aiohttp' else '/big?mib=200')
    piece, held = run(take_one_then_wait(stream, 1.0))
    assert piece
    assert held <= 2 * MIB      # what the client holds: its high-water mark and one read
    if side == 'aiohttp':
        sent = aio.written
    else:
        sent = stream_handlers.PULLED['count'] * len(CHUNK)
    # What the server could write is the socket buffers on both sides and its own,
    # never the 200 MiB.
    assert sent < 32 * MIB, sent
    del stream      # nobody takes the rest: the connection closes
    if side == 'aiohttp':
        assert wait_for(lambda: 'big: client gone' in aio.seen)
    else:
        assert wait_for(lambda: 'big closed' in stream_handlers.EVENTS)
    assert len(connection.idle) == 0


def test_a_body_read_slowly_still_arrives_whole(own):
    async def slowly(stream):
        total = 0
        async for piece in stream:
            total += len(piece)
            if total < 4 * MIB:
                await rhc.sleep(0.001)
        return total
    assert run(slowly(rhc.Connection(own.url).stream('GET', '/big?mib=20'))) == 20 * MIB


def server_connections(running):
    return running.call(lambda: len(running.service.servers['s'].connections))


def server_connections_set(running):
    return running.call(lambda: set(running.service.servers['s'].connections))


def streaming_connections(running, path):
    """The server's connections answering `path` now."""
    return running.call(lambda: {c for c in running.service.servers['s'].connections
                                 if c.current is not None and c.current.path == path})


def test_breaking_out_of_the_loop_closes_the_connection(own):
    connection = rhc.Connection(own.url)
    ours = set()

    async def three():
        got = 0
        async for _ in connection.stream('GET', '/forever'):
            got += 1
            if got == 1:
                ours.update(streaming_connections(own, '/forever'))
            if got == 3:
                break
        return got
    assert run(three()) == 3
    assert len(ours) == 1
    assert wait_for(lambda: 'sync finally' in stream_handlers.EVENTS)
    assert len(connection.idle) == 0
    # The server sees the close. Its count of connections is not compared with the
    # count before: ports are reused, and another test's client (retrying on its
    # address) was seen to connect to this fresh server and idle there.
    assert wait_for(lambda: not ours & server_connections_set(own))


def test_cancelling_the_coroutine_closes_the_connection(own):
    connection = rhc.Connection(own.url)
    taken = []

    async def forever():
        async for piece in connection.stream('GET', '/forever_async'):
            taken.append(len(piece))

    async def main():
        task = rhc.spawn(forever())
        while len(taken) < 3:
            await rhc.sleep(0.01)
        task.cancel()
        with pytest.raises(rhc.Cancelled):
            await task
    run(main())
    assert wait_for(lambda: 'async finally' in stream_handlers.EVENTS)


@pytest.mark.parametrize('side, path, status, text', [
    ('aiohttp', '/error', 503, 'try later'),
    ('rhc', '/missing', 404, '{"error": "not found"}'),
])
def test_a_failed_status_is_a_call_error_with_its_body(aio, own, side, path, status, text):
    connection = rhc.Connection(aio.url if side == 'aiohttp' else own.url)
    with pytest.raises(rhc.CallError) as caught:
        run(collect(connection.stream('GET', path)))
    assert caught.value.status == status
    assert caught.value.body == text.encode()
    assert text in str(caught.value)


def test_a_silent_server_is_a_timeout(aio):
    with pytest.raises(rhc.CallError, match='timeout'):
        run(collect(rhc.Connection(aio.url).stream('GET', '/silent', timeout=0.3)))


def test_nobody_listening_is_a_call_error():
    with pytest.raises(rhc.CallError, match='connection refused'):
        run(collect(rhc.Connection(f'http://127.0.0.1:{refused_port()}').stream('GET', '/')))


# -- events -----------------------------------------------------------------------

async def first(source, count):
    events = []
    async for event in source:
        events.append(event)
        if len(events) == count:
            break
    return events


def test_events_from_rhc_reconnect_with_the_last_event_id(own):
    source = rhc.Connection(own.url).events('/resume')
    events = run(first(source, 7))
    assert [(e.data, e.id, e.event) for e in events] == [
        (f'event {n}', str(n), 'message') for n in range(1, 8)]
    assert all(isinstance(e, rhc.Event) for e in events)
    assert source.reconnect == 0.05        # the server's retry: 50
    assert stream_handlers.EVENTS == ['last_event_id=None', 'last_event_id=3', 'last_event_id=6']


def test_events_from_aiohttp_reconnect_with_the_last_event_id(aio):
    aio.seen.clear()
    source = rhc.Connection(aio.url).events('/events', last_event_id='10')
    events = run(first(source, 5))
    assert [(e.data, e.id) for e in events] == [(f'event {n}', str(n)) for n in range(11, 16)]
    assert aio.seen == ['events: Last-Event-ID=10', 'events: Last-Event-ID=12',
                        'events: Last-Event-ID=14']
    assert source.reconnect == 0.02


def test_events_stop_when_the_consumer_stops(aio):
    aio.seen.clear()
    assert [e.data for e in run(first(rhc.Connection(aio.url).events('/forever'), 3))] == \
        ['tick'] * 3
    assert wait_for(lambda: 'forever: client gone' in aio.seen)


def test_events_end_on_204(aio):
    aio.seen.clear()
    assert run(first(rhc.Connection(aio.url).events('/nocontent'), 1)) == []
    assert aio.seen == ['nocontent']


@pytest.mark.parametrize('path, status', [('/notsse', 200), ('/error', 503)])
def test_events_fail_at_once_on_what_is_not_an_event_stream(aio, path, status):
    aio.seen.clear()
    with pytest.raises(rhc.CallError) as caught:
        run(first(rhc.Connection(aio.url).events(path), 1))
    assert caught.value.status == status
    assert len(aio.seen) == 1       # not retried


def test_events_give_up_after_their_retries(aio):
    aio.seen.clear()
    with pytest.raises(rhc.CallError, match='gave up after 2 reconnections'):
        run(first(rhc.Connection(aio.url).events('/empty_events', retries=2), 1))
    assert aio.seen == ['empty_events'] * 3


def test_events_give_up_when_nobody_listens():
    connection = rhc.Connection(f'http://127.0.0.1:{refused_port()}')
    with pytest.raises(rhc.CallError, match='connection refused.*gave up after 1'):
        run(first(connection.events('/', retries=1, reconnect=0.01), 1))
    assert connection.connects == 2
