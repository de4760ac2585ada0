"""Answers sent as they are made: `Stream` and `EventStream` (SPEC §8).

A handler returns one of these instead of a body built whole. Each is a
`Body`: told the request, it says how its answer begins (`Opening`: status,
type, headers, length if known) and gives the items of its body, sync or
async, and how each becomes bytes. rhc/streamwriter.py sends it, one item
at a time, only as fast as the client reads. `File` (rhc/files.py) is a
Body too.
"""
from rhc import sse

OCTETS = 'application/octet-stream'


class Opening:
    """How a Body's answer begins: its status, type, headers, length and items.

    `length` is the body's size when known (it is sent as Content-Length),
    else None (chunked, or until close for HTTP/1.0). `items` is an iterable
    or async iterable; `whole` is a body already complete (an error document).
    """

    __slots__ = ('status', 'content_type', 'headers', 'length', 'items', 'whole')

    def __init__(self, status, content_type, headers, length=None, items=(), whole=None):
        self.status = status
        self.content_type = content_type
        self.headers = headers
        self.length = length
        self.items = items
        self.whole = whole


class Body:
    """What a handler returns to have its answer sent while it is being made."""

    status = 200
    ping = None         # seconds of silence after which a keep-alive comment is sent
    ping_bytes = b''

    def open(self, request):
        """The Opening of the answer to `request`."""
        raise NotImplementedError

    def encode(self, item):
        """The bytes that `item` (one of the Opening's items) is sent as."""
        raise NotImplementedError

    def close_items(self, items):
        """The answer is not sent after all (HEAD, a 304): let a sync iterator go now."""
        close = getattr(items, 'close', None)
        if close is not None and not hasattr(items, '__aiter__'):
            close()


def _headers(headers):
    """A handler's headers as a list of pairs (a dict, a list of pairs, or None)."""
    if headers is None:
        return []
    return list(headers.items() if hasattr(headers, 'items') else headers)


class Stream(Body):
    """A body of `chunks` (bytes or str, from an iterable or an async iterable).

    Sent chunked on HTTP/1.1 and until close on HTTP/1.0; the next chunk is
    taken only once the client has read enough of the last ones. A client
    that goes away closes the iterator (its `finally` blocks run).
    """

    def __init__(self, chunks, content_type=OCTETS, status=200, headers=None):
        self.chunks = chunks
        self.content_type = content_type
        self.status = status
        self.headers = _headers(headers)

    def open(self, request):
        return Opening(self.status, self.content_type, self.headers, None, self.chunks)

    def encode(self, item):
        if isinstance(item, bytes):
            return item
        if isinstance(item, str):
            return item.encode('utf-8')
        if isinstance(item, (bytearray, memoryview)):
            return bytes(item)
        raise TypeError(f'a Stream chunk must be bytes or str, not {type(item).__name__}')

    def __repr__(self):
        return f'<{type(self).__name__} {self.status} {self.content_type}>'


# Nothing on the way may hold events back: a proxy (nginx) or a cache.
NO_BUFFERING = [('Cache-Control', 'no-cache'), ('X-Accel-Buffering', 'no')]


class EventStream(Stream):
    """Server-Sent Events: each item a str, a dict or list (JSON), or an `rhc.Event`.

    Each event is sent as soon as it is made; after `ping` seconds without
    one, a comment line keeps the connection (and any proxy) open. A client
    that reconnects says where it got to in `request.last_event_id`.
    """

    ping_bytes = sse.PING

    def __init__(self, events, ping=15.0, status=200, headers=None):
        super().__init__(events, sse.CONTENT_TYPE, status, NO_BUFFERING + _headers(headers))
        if ping is not None and ping <= 0:
            raise ValueError(f'ping must be a positive number of seconds, not {ping!r}')
        self.ping = ping

    def encode(self, item):
        return sse.encode(item)
