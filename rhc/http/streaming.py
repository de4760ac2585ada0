"""The response parser for a body read as it arrives: the head whole, the body in pieces.

A client that streams a body (rhc/download.py) feeds bytes in and reads
out the head once, the body's bytes as they come, and its end. The framing
(Content-Length, chunked, until close) and every check on it are the
ResponseParser's; only the body is handed on instead of gathered, so it
may be as long as it likes.
"""
from .fields import AGAIN, MAX_HEADER, MAX_HEADER_FIELDS
from .parsers import ResponseParser

UNBOUNDED = 1 << 62     # nothing holds a streamed body whole, so nothing limits its size


class StreamingResponseParser(ResponseParser):
    """One response: `read()` gives its head, then its body a piece at a time."""

    def __init__(self, max_header=MAX_HEADER, max_header_fields=MAX_HEADER_FIELDS):
        super().__init__(max_header, max_header_fields, UNBOUNDED)
        self.head = None            # the Response (its body empty) once the head is read
        self.complete = False       # the body has ended
        self._pieces = []

    def read(self):
        """(the head or None until it came, the body bytes since the last call, complete).

        Raises ProtocolError (status 502) for a malformed response, or one
        cut short by the end of the stream (see `feed_eof`).
        """
        if not self.complete:
            self.next_response()
            if self.head is None and self._message is not None:
                self.head = self._message
        pieces, self._pieces = self._pieces, []
        return self.head, pieces, self.complete

    def _finish(self, message, body):
        if body:
            self._pieces.append(body)
        self.head = message
        self.complete = True
        return super()._finish(message, b'')

    def _read_length(self):
        buf = self._buf
        if len(buf) >= self._remaining:
            return super()._read_length()
        if buf:
            self._remaining -= len(buf)
            self._pieces.append(bytes(buf))
            buf.clear()
        return None

    def _read_chunk_data(self):
        buf = self._buf
        if not buf:
            return None
        n = self._remaining
        if len(buf) >= n:
            self._pieces.append(bytes(buf[:n]))
            del buf[:n]
            self._state = type(self)._read_chunk_end
            return AGAIN
        self._remaining -= len(buf)
        self._pieces.append(bytes(buf))
        buf.clear()
        return None

    def _read_until_close(self):
        buf = self._buf
        if buf:
            self._pieces.append(bytes(buf))
            buf.clear()
        if not self._eof:
            return None
        return self._finish(self._message, b'')
