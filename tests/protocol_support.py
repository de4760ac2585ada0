"""Protocols without sockets: a loop with its own clock, a transport that records.

`FakeLoop` keeps time only when told (`advance`), so a 10 s timeout takes
no time and lands exactly when it is due. `FakeTransport` keeps the
Transport contract of rhc/transport.py (callback order, water marks,
`close(linger)`, `abort()`, `connection_lost` on a later loop turn) and
plays the peer: `receive` delivers its bytes, `stall` makes it stop
reading, `drain` makes it read again, `reset` and `eof` end it.
`open_server` builds an `HTTPProtocol` on one, for a micro source, and
`parse_responses` reads back what the protocol wrote. On the client side,
`FakeDialer` stands in for `rhc.transport.connect`.
"""
import errno
import heapq
import itertools
import types

import micro
import rhc.loop
from rhc import http
from rhc.limits import Limits
from rhc.routing import Router
from rhc.observe import Observer
from rhc.server_protocol import HTTPProtocol
from rhc.transport import HIGH_WATER, LOW_WATER


class FakeHandle:
    """What `call_soon`/`call_later` return: `.when`, `.cancel()`."""

    __slots__ = ('when', 'fn', 'args', 'cancelled', 'order')

    def __init__(self, when, fn, args, order):
        self.when = when
        self.fn = fn
        self.args = args
        self.cancelled = False
        self.order = order

    def cancel(self):
        self.cancelled = True

    def __lt__(self, other):
        return (self.when, self.order) < (other.when, other.order)


# Where a FakeLoop's clock starts. Not zero: a monotonic clock never reads
# 0.0, and code may fairly treat a time of 0.0 as "not set".
EPOCH = 1000.0


class FakeLoop:
    """`time`, `call_soon`, `call_later`, run by hand: nothing happens until asked.

    A callback that raises is not logged away as on the real loop: the
    exception reaches the test.
    """

    def __init__(self, now=EPOCH):
        self.now = now
        self.handling = None        # as on the real loop: what the running callback works for
        self._ready = []
        self._timers = []
        self._order = itertools.count()

    def time(self):
        return self.now

    def call_soon(self, fn, *args):
        handle = FakeHandle(self.now, fn, args, next(self._order))
        self._ready.append(handle)
        return handle

    call_soon_threadsafe = call_soon

    def call_later(self, delay, fn, *args):
        handle = FakeHandle(self.now + delay, fn, args, next(self._order))
        heapq.heappush(self._timers, handle)
        return handle

    # Exact here: the real loop's may fire up to rhc.loop.COARSE late.
    call_later_coarse = call_later

    def run_ready(self):
        """Run what is ready, and what that makes ready, until nothing is."""
        for _ in range(100_000):
            if not self._ready:
                return
            handle = self._ready.pop(0)
            if not handle.cancelled:
                handle.fn(*handle.args)
        raise AssertionError('the ready queue never empties')

    def advance(self, seconds):
        """Move the clock on by `seconds`, running each timer at its own time, in order."""
        until = self.now + seconds
        self.run_ready()
        timers = self._timers
        while timers and timers[0].when <= until:
            handle = heapq.heappop(timers)
            if handle.cancelled:
                continue
            self.now = max(self.now, handle.when)
            handle.fn(*handle.args)
            self.run_ready()
        self.now = until

    def timers(self):
        """The pending timers' due times, soonest first."""
        return sorted(h.when for h in self._timers if not h.cancelled)

    def close(self):
        pass


class FakeTransport:
    """A connection with a scripted peer, recording what the protocol does to it.

    `written` is what the peer has read; `buffered` what it has not read
    yet (the transport's write buffer). `reading_calls` lists the
    protocol's `pause_reading`/`resume_reading` calls in order. Bytes the
    peer sends while reading is paused wait (as in the kernel) and arrive
    when it resumes.
    """

    def __init__(self, loop, protocol, peer=('127.0.0.1', 50000),
                 high_water=HIGH_WATER, low_water=LOW_WATER):
        self.loop = loop
        self.protocol = protocol
        self.peer = peer
        self.high_water = high_water
        self.low_water = low_water
        self.progressed = 0.0
        self.written = bytearray()
        self.buffered = bytearray()
        self.reading = False
        self.reading_calls = []
        self.peer_reading = True
        self.break_writes = None    # an OSError the next write fails with
        self.waiting = []           # bytes (or EOF, None) sent while reading was paused
        self.closing = False
        self.closed = False         # the connection is gone (connection_lost is queued)
        self.half_closed = False    # our side is shut; lingering for the peer
        self.linger = None          # what close() was given; None: close() was not called
        self.aborted = False
        self.closed_at = None
        self.lost = None            # what connection_lost was told, once it was
        self._writing_paused = False
        self._linger_timer = None

    def start(self):
        self.protocol.connection_made(self)
        if not self.closing:
            self.reading = True
        return self

    # -- the transport's side -------------------------------------------------

    def write(self, data):
        if self.closing or not data:
            return
        if self.break_writes is not None:
            return self._finish(self.break_writes)
        if self.peer_reading and not self.buffered:
            self.written += data
            return
        if not self.buffered:
            self.progressed = self.loop.time()
        self.buffered += data
        if not self._writing_paused and len(self.buffered) > self.high_water:
            self._writing_paused = True
            self.protocol.pause_writing()

    def get_write_buffer_size(self):
        return len(self.buffered)

    @property
    def sent(self):
        """Bytes the peer has taken, in all (a Transport counts what its socket took)."""
        return len(self.written)

    def pause_reading(self):
        self.reading_calls.append('pause')
        self.reading = False

    def resume_reading(self):
        self.reading_calls.append('resume')
        if not self.reading and not self.closing:
            self.reading = True
            if self.waiting:
                self.loop.call_soon(self._deliver_waiting)

    def set_protocol(self, protocol):
        self.protocol = protocol

    def is_closing(self):
        return self.closing

    def close(self, linger=0.0):
        if self.closing:
            return
        self.closing = True
        self.linger = linger
        self.reading = False
        if not self.buffered:
            self._after_flush()

    def abort(self):
        self.closing = self.aborted = True
        self._finish(None)

    def _after_flush(self):
        if not self.linger or self.linger <= 0:
            return self._finish(None)
        self.half_closed = True
        self._linger_timer = self.loop.call_later(self.linger, self._finish, None)

    def _finish(self, exc):
        if self.closed:
            return
        self.closed = self.closing = True
        self.closed_at = self.loop.time()
        self.reading = False
        self.buffered.clear()
        if self._linger_timer is not None:
            self._linger_timer.cancel()
        self.loop.call_soon(self._lost, self.protocol, exc)

    def _lost(self, protocol, exc):
        self.lost = exc
        protocol.connection_lost(exc)

    # -- the peer's side ------------------------------------------------------

    def receive(self, data):
        """The peer sends `data`; it arrives now if the protocol is reading."""
        if self.closed:
            return
        if self.half_closed:
            return      # lingering: read and dropped
        if not self.reading:
            self.waiting.append(data)
            return
        self.protocol.data_received(data)

    def receive_bytewise(self, data):
        for i in range(len(data)):
            self.receive(data[i:i + 1])

    def eof(self):
        """The peer closes its side."""
        if self.closed:
            return
        if self.half_closed:
            return self._finish(None)
        if not self.reading:
            self.waiting.append(None)
            return
        if not self.protocol.eof_received():
            self.close()

    def reset(self, exc=None):
        """The connection breaks (the peer reset it)."""
        self._finish(exc or ConnectionResetError(errno.ECONNRESET, 'Connection reset by peer'))

    def stall(self):
        """The peer stops reading: what is written from now on stays buffered."""
        self.peer_reading = False

    def drain(self, size=None):
        """The peer reads `size` buffered bytes (all of them by default), and goes on reading."""
        if size is None:
            self.peer_reading = True
        moved = self.buffered[:size] if size is not None else bytes(self.buffered)
        del self.buffered[:len(moved)]
        self.written += moved
        if moved:
            self.progressed = self.loop.time()
        if self._writing_paused and len(self.buffered) <= self.low_water:
            self._writing_paused = False
            self.protocol.resume_writing()
        if not self.buffered and self.closing and not self.closed:
            self._after_flush()

    def _deliver_waiting(self):
        while self.waiting and self.reading:
            data = self.waiting.pop(0)
            if data is None:
                self.eof()
            else:
                self.protocol.data_received(data)

    @property
    def output(self):
        """Everything the protocol wrote, read or not."""
        return bytes(self.written + self.buffered)


# -- the server side ---------------------------------------------------------------

# The routes the server-side data tests use (handlers from tests/handlers.py).
SERVICE = [
    'SERVER api 0',
    'ROUTE /ping$', 'GET handlers.ping',
    'ROUTE /echo$', 'GET handlers.echo', 'POST handlers.echo',
    'ROUTE /size$', 'POST handlers.body_size', 'PUT handlers.body_size',
    'ROUTE /big$', 'GET handlers.big',
    'ROUTE /delayed$', 'GET handlers.delayed',
    'ROUTE /private$', 'POST handlers.echo', 'AUTH handlers.allow_token',
]
PONG = b'{"ping": "pong"}'


def install_fake_loop(monkeypatch):
    """A FakeLoop that `get_loop()` returns, so `rhc.timer` (handlers.delayed) runs on it."""
    loop = FakeLoop()
    monkeypatch.setattr(rhc.loop, '_default', loop)
    return loop


def fake_server(loop, lines, limits=None, log_requests=False):
    """What `HTTPProtocol` needs of a Server, for the first SERVER in `lines`."""
    model = micro.parse(lines)
    server = next(iter(model.servers.values()))
    router = Router(server, model.enums)
    return types.SimpleNamespace(loop=loop, router=router,
                                 observer=Observer('s', router, log_requests),
                                 limits=limits or Limits(), log_requests=log_requests,
                                 stopping=False, keep_alive=True, held=None,
                                 connections=set(),
                                 ids=itertools.count(1))


def open_server(server, **transport_options):
    """A new connection to `server`: (protocol, transport), connection_made called."""
    protocol = HTTPProtocol(server, next(server.ids), ('127.0.0.1', 50000))
    transport = FakeTransport(server.loop, protocol, **transport_options)
    server.connections.add(protocol)
    transport.start()
    return protocol, transport


def parse_responses(data, methods=(), eof=False):
    """The final responses in `data`, read by rhc's own response parser.

    `methods` are the requests' methods in order, where any was not GET (a
    HEAD's answer has no body). Bytes left over that are not a whole
    response fail the test.
    """
    parser = http.ResponseParser()
    for method in methods:
        parser.expect(method)
    parser.feed(bytes(data))
    if eof:
        parser.feed_eof()
    responses = []
    while (response := parser.next_response()) is not None:
        responses.append(response)
    assert not parser.in_progress and not parser.buffered, \
        f'{parser.buffered} bytes after {len(responses)} responses'
    return responses


def get(path, extra=b'', version=b'HTTP/1.1'):
    """The bytes of a GET of `path`, with `extra` header lines."""
    return b'GET ' + path + b' ' + version + b'\r\nHost: test\r\n' + extra + b'\r\n'


def post(path, body, extra=b''):
    return b'POST %s HTTP/1.1\r\nHost: test\r\nContent-Length: %d\r\n%s\r\n%s' % (
        path, len(body), extra, body)


def assert_open(transport):
    assert not transport.closing, f'closed at {transport.closed_at}'


def assert_lost(server, protocol, transport):
    """The connection is gone, the protocol told so, and the server forgot it."""
    server.loop.run_ready()
    assert transport.closed and transport.lost is None
    assert protocol not in server.connections
    assert server.loop.timers() == []       # no timer left behind for it


# -- the client side ---------------------------------------------------------------


class FakeDialer:
    """Stands in for `rhc.transport.connect`: each connect makes a FakeTransport.

    The connection is made on the loop's next turn, as a real connect
    completes later; with `refuse`, it fails with ECONNREFUSED instead.
    """

    def __init__(self):
        self.transports = []
        self.refuse = False

    def __call__(self, loop, addresses, protocol, make_transport=None):
        return _FakeConnector(self, loop, protocol)


class _FakeConnector:
    def __init__(self, dialer, loop, protocol):
        self.dialer = dialer
        self.protocol = protocol
        self.handle = loop.call_soon(self._done, loop)

    def _done(self, loop):
        if self.dialer.refuse:
            return self.protocol.connection_failed(
                ConnectionRefusedError(errno.ECONNREFUSED, 'Connection refused'))
        transport = FakeTransport(loop, self.protocol, peer=('127.0.0.1', 80))
        self.dialer.transports.append(transport)
        transport.start()

    def cancel(self):
        self.handle.cancel()
