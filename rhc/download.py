"""A response body read as it arrives: what `Connection.stream(...)` returns (SPEC §8).

`BodyStream` is an async iterable of the body's chunks, for a coroutine:

    async for chunk in connection.stream('GET', '/export.csv'):
        ...

Its `Receiver` is the protocol on the connection. It parses as bytes come
and holds what the consumer has not taken yet, up to HIGH_WATER; past that
it stops reading from the socket until the consumer catches up, so a slow
consumer slows the server down instead of filling memory. Breaking out of
the loop, `aclose()`, or cancelling the coroutine closes the connection; a
body read to its end leaves the connection in the pool for the next call.
"""
import collections

from rhc import http
from rhc.errors import CallError
from rhc.exchange import DISCARDED, IDEMPOTENT, connect_failure
from rhc.future import _PENDING, Cancelled, Future
from rhc.http.streaming import StreamingResponseParser
from rhc.response import text_of
from rhc.transport import connect

HIGH_WATER = 256 * 1024     # bytes held for the consumer before reading stops
LOW_WATER = 64 * 1024       # ... and starts again
ERROR_BODY = 64 * 1024      # how much of a non-2xx answer's body its CallError carries


class Receiver:
    """One streamed call on one connection: the head, then the body as it is taken."""

    __slots__ = ('connection', 'loop', 'method', 'out', 'timeout', 'transport', 'connector',
                 'parser', 'reused', 'received', 'head', 'pieces', 'buffered', 'paused',
                 'complete', 'error', 'closed', 'waiter', 'timer', 'last_active')

    def __init__(self, connection, method, out, timeout):
        self.connection = connection
        self.loop = connection._loop()
        self.method = method
        self.out = out              # the request's bytes
        self.timeout = timeout      # seconds without a byte while the consumer waits
        self.transport = None
        self.connector = None
        self.parser = None
        self.reused = False
        self.received = 0
        self.head = None
        self.pieces = collections.deque()
        self.buffered = 0
        self.paused = False
        self.complete = False
        self.error = None
        self.closed = False
        self.waiter = None
        self.timer = None
        self.last_active = 0.0

    # -- starting -------------------------------------------------------------------

    def start(self, error=None):
        if self.closed:
            return
        if error is not None:
            return self._fail(error)
        self.last_active = self.loop.time()
        idle = self.connection.idle.take()
        if idle is None:
            return self._open()
        self.reused = True
        self._use(idle[0])

    def _open(self):
        connection = self.connection
        connection.connects += 1
        self.connector = connect(self.loop, connection.addresses, self, connection.make_transport)

    def _use(self, transport):
        self.transport = transport
        self.parser = StreamingResponseParser()
        self.parser.expect(self.method)
        transport.set_protocol(self)
        transport.write(self.out)

    # -- what the transport calls -------------------------------------------------------

    def connection_failed(self, exc):
        self.connector = None
        if not self.closed:
            self._fail(CallError(connect_failure(exc)))

    def connection_made(self, transport):
        self.connector = None
        self._use(transport)

    def data_received(self, data):
        self.last_active = self.loop.time()
        self.received += len(data)
        self.parser.feed(data)
        self._parse()

    def eof_received(self):
        self.parser.feed_eof()
        self._parse()
        if not self.complete and not self.closed:
            self._broken('connection closed mid-response')
        return False

    def connection_lost(self, exc):
        self.transport = None
        if not self.complete and not self.closed:
            self._broken('connection closed mid-response' if exc is None
                         else f'connection reset: {exc}')

    def pause_writing(self):
        pass        # the request is written whole

    def resume_writing(self):
        pass

    # -- the body -----------------------------------------------------------------------

    def _parse(self):
        try:
            head, pieces, complete = self.parser.read()
        except http.ProtocolError as e:
            return self._fail(CallError(f'malformed response: {e.message}'))
        self.head = head
        for piece in pieces:
            self.pieces.append(piece)
            self.buffered += len(piece)
        if complete:
            self.complete = True
            self._release()
        elif self.buffered > HIGH_WATER and not self.paused:
            self.paused = True
            self.transport.pause_reading()
        self._wake()

    def _release(self):
        """The body has ended: the connection goes back to the pool, or closes."""
        self._stop_timer()
        transport, self.transport = self.transport, None
        if transport is None:
            return
        if self.head.keep_alive and not self.parser.in_progress and not transport.is_closing():
            transport.resume_reading()
            self.connection.idle.give(transport, http.ResponseParser(
                max_body=self.connection.max_body))
        else:
            transport.set_protocol(DISCARDED)
            transport.close()

    async def next_head(self):
        while self.head is None:
            await self._wait()
        return self.head

    async def next_piece(self):
        """The next piece of the body, or None after its end."""
        while True:
            if self.pieces:
                piece = self.pieces.popleft()
                self.buffered -= len(piece)
                if self.paused and self.buffered <= LOW_WATER:
                    self.paused = False
                    if self.transport is not None:
                        self.transport.resume_reading()
                return piece
            if self.complete:
                return None
            await self._wait()

    def _wait(self):
        if self.error is not None:
            raise self.error
        if self.closed:
            raise CallError('the stream is closed')
        self.waiter = Future(self.loop)
        if self.timeout and self.timer is None:
            self.timer = self.loop.call_later(self.timeout, self._on_timer)
        return self.waiter

    def _wake(self):
        waiter, self.waiter = self.waiter, None
        if waiter is not None and waiter._state == _PENDING:
            waiter.set_result(None)

    def _on_timer(self):
        self.timer = None
        if self.waiter is None or self.complete or self.closed:
            return      # the consumer is not waiting: a slow consumer is no timeout
        idle = self.loop.time() - self.last_active
        if idle < self.timeout:
            self.timer = self.loop.call_later(self.timeout - idle, self._on_timer)
        else:
            self._fail(CallError('timeout'))

    def _stop_timer(self):
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None

    # -- ending ---------------------------------------------------------------------------

    def _broken(self, reason):
        """The connection failed. A reused one that never answered is tried once more on a
        fresh socket, if sending the request again is safe (as Exchange does)."""
        if self.reused and self.received == 0 and self.method in IDEMPOTENT:
            self._drop_transport()
            self.reused = False
            return self._open()
        self._fail(CallError(reason))

    def _fail(self, error):
        if self.error is None:
            self.error = error
        self.close()

    def close(self):
        """Give up on the rest: the connection closes (a complete body's is already let go)."""
        self.closed = True
        self._stop_timer()
        if self.connector is not None:
            self.connector.cancel()
            self.connector = None
        self._drop_transport()
        self.pieces.clear()
        self._wake()

    def _drop_transport(self):
        transport, self.transport = self.transport, None
        if transport is not None:
            transport.set_protocol(DISCARDED)
            transport.abort()


class BodyStream:
    """The body of one call, chunk by chunk (`async for`); see the module doc.

    `status`, `reason` and `headers` are set once the head has come
    (`await stream.open()` waits for it, returning the stream). A status
    outside 2xx raises CallError (with `.status`, and the start of the body
    as `.body`) from `open()` or the loop's first step.
    """

    def __init__(self, receiver, start):
        self._receiver = receiver
        self._start = start
        self.status = None
        self.reason = None
        self.headers = None

    def __repr__(self):
        return f'<BodyStream {self.status or "pending"}>'

    async def open(self):
        receiver = self._receiver
        if self._start is not None:
            start, self._start = self._start, None
            start(receiver)
        if self.status is not None:
            return self
        try:
            head = await receiver.next_head()
            self.status, self.reason, self.headers = head.status, head.reason, head.headers
            if not 200 <= head.status < 300:
                raise await self._error(head)
        except Cancelled:
            receiver.close()
            raise
        return self

    async def _error(self, head):
        """A CallError for a non-2xx answer, with the start of its body."""
        receiver, body = self._receiver, b''
        while len(body) < ERROR_BODY:
            piece = await receiver.next_piece()
            if piece is None:
                break
            body += piece
        receiver.close()
        text = text_of(body[:ERROR_BODY], head.headers.get('content-type'))
        return CallError(f'{head.status} {head.reason}' + (f': {text[:500]}' if text else ''),
                         status=head.status, body=body[:ERROR_BODY])

    def __aiter__(self):
        return self

    async def __anext__(self):
        if self.status is None:
            await self.open()
        try:
            piece = await self._receiver.next_piece()
        except Cancelled:
            self._receiver.close()
            raise
        if piece is None:
            raise StopAsyncIteration
        return piece

    async def read(self):
        """The rest of the body, whole (for a body known to be small)."""
        return b''.join([piece async for piece in self])

    async def aclose(self):
        """Stop reading: the connection is closed, unless the body was read to its end."""
        self._receiver.close()

    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc_info):
        self._receiver.close()

    def __del__(self):
        # A loop left with `break`: nobody will take the rest, so the connection goes.
        try:
            self._receiver.close()
        except Exception:       # the loop itself may be gone (the interpreter is exiting)
            pass
