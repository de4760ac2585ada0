"""Server-Sent Events for a client: what `Connection.events(path)` returns (SPEC §8).

`EventSource` is an async iterable of `rhc.Event`s that behaves as the
browser's EventSource does (the WHATWG "Server-sent events" processing
model): when the connection drops or the stream ends, it connects again
after the reconnection time (the server's `retry:`, else 3 s) with the last
event id it saw in `Last-Event-ID`. Unlike a browser it gives up, with a
CallError, after `retries` attempts in a row that bring no event. A 204
ends the events; another status or a body that is not an event stream is
a CallError at once, not retried. When the consumer stops (`break`,
`aclose()`, a cancelled coroutine) the connection is closed.
"""
import collections

from rhc.concurrency import sleep
from rhc.errors import CallError
from rhc.sse import CONTENT_TYPE, EventParser

RECONNECT = 3.0     # seconds before connecting again, until the server sends `retry:`


class EventSource:
    """The events of one SSE endpoint, across reconnections; see the module doc."""

    def __init__(self, connection, path, headers=None, last_event_id=None, retries=5,
                 timeout=45.0, reconnect=RECONNECT):
        self.connection = connection
        self.path = path
        self.headers = dict(headers or {})
        self.last_event_id = last_event_id or ''
        self.retries = retries
        self.timeout = timeout
        self.reconnect = reconnect      # seconds; the server's `retry:` replaces it
        self.connects = 0           # connections made, for the curious
        self._attempts = 0          # reconnections in a row without an event
        self._body = None
        self._parser = None
        self._events = collections.deque()
        self._ended = False

    def __repr__(self):
        return f'<EventSource {self.path} last_event_id={self.last_event_id!r}>'

    def __aiter__(self):
        return self

    async def __anext__(self):
        while not self._events:
            if self._ended:
                raise StopAsyncIteration
            if self._body is None:
                await self._connect()
                continue
            try:
                chunk = await self._body.__anext__()
            except StopAsyncIteration:
                await self._again('the stream ended')
                continue
            except CallError as e:
                await self._again(e.message)
                continue
            parser = self._parser
            events = parser.feed(chunk)
            self.last_event_id = parser.last_event_id
            if parser.retry is not None:
                self.reconnect = parser.retry / 1000
            if events:
                self._attempts = 0
                self._events.extend(events)
        return self._events.popleft()

    async def _connect(self):
        headers = {'Accept': CONTENT_TYPE, 'Cache-Control': 'no-cache', **self.headers}
        if self.last_event_id:
            headers['Last-Event-ID'] = self.last_event_id
        body = self.connection.stream('GET', self.path, headers=headers, timeout=self.timeout)
        self.connects += 1
        try:
            await body.open()
        except CallError as e:
            if e.status is not None:
                self._ended = True
                raise       # the server answered, and not with events: trying again won't help
            return await self._again(e.message)
        if body.status == 204:
            await body.aclose()
            self._ended = True
            return
        kind = (body.headers.get('content-type') or '').split(';')[0].strip().lower()
        if body.status != 200 or kind != CONTENT_TYPE:
            await body.aclose()
            self._ended = True
            raise CallError(f'{self.path}: not an event stream ({body.status}, '
                            f'{body.headers.get("content-type")!r})', status=body.status)
        self._body = body
        self._parser = EventParser(last_event_id=self.last_event_id)

    async def _again(self, reason):
        """Close what is left of the connection, wait the reconnection time, and go on
        (raising CallError when there have been `retries` attempts without an event)."""
        await self._close_body()
        self._attempts += 1
        if self._attempts > self.retries:
            self._ended = True
            raise CallError(f'{self.path}: event stream lost ({reason}); gave up after '
                            f'{self.retries} reconnections')
        await sleep(self.reconnect)

    async def _close_body(self):
        body, self._body = self._body, None
        if self._parser is not None:
            self._parser.close()
            self._parser = None
        if body is not None:
            await body.aclose()

    async def aclose(self):
        """Stop: the connection is closed and no more events come."""
        self._ended = True
        self._events.clear()
        await self._close_body()
