"""The message reader both parsers are built on: buffer, head, fields, framing, body.

Bytes go in with ``feed``; each step of the reader is a bound method in
``_state``. Nothing here touches a socket, a clock or a loop.
"""
from .fields import (AGAIN, MAX_CHUNK_LINE, MAX_LEADING_EMPTY_LINES, NAME_CACHE, ProtocolError,
                     field_key, repeat_field)

_HEX = b'0123456789abcdefABCDEF'
# A Content-Length body longer than HOLD_FROM is held in pieces of at least
# HOLD_PIECE bytes as it arrives, and joined once when it is complete.
HOLD_FROM = 256 * 1024
HOLD_PIECE = 64 * 1024


class Request:
    """One parsed request; ``path`` and ``query_string`` are raw (not percent-decoded)."""

    __slots__ = ('method', 'target', 'path', 'query_string', 'version',
                 'headers', 'body', 'keep_alive')

    def __init__(self, method, target, path, query_string, version, headers,
                 body=b'', keep_alive=True):
        self.method = method
        self.target = target
        self.path = path
        self.query_string = query_string
        self.version = version
        self.headers = headers
        self.body = body
        self.keep_alive = keep_alive

    def __repr__(self):
        return f'<Request {self.method} {self.target} {self.version} body={len(self.body)}>'


class Response:
    """One parsed response (interim 1xx responses are never returned)."""

    __slots__ = ('status', 'reason', 'version', 'headers', 'body', 'keep_alive')

    def __init__(self, status, reason, version, headers, body=b'', keep_alive=True):
        self.status = status
        self.reason = reason
        self.version = version
        self.headers = headers
        self.body = body
        self.keep_alive = keep_alive

    def __repr__(self):
        return f'<Response {self.status} {self.reason} body={len(self.body)}>'


class MessageReader:
    """What both parsers share: the buffer, the head, the fields, the body.

    The current step is a function of the class in ``_state`` (a bound method
    there would tie the parser to itself in a cycle); each step returns None
    (need more bytes), ``AGAIN`` (progress made, run the next step) or the
    finished message.
    """

    kind = 'message'

    def __init__(self, max_line, max_header, max_fields, max_body):
        self._max_line = max_line
        self._max_header = max_header
        self._max_fields = max_fields
        self._max_body = max_body
        self._buf = bytearray()
        self._scan = 0          # where the next search for a blank line starts
        self._line_end = -1     # where the first line of an incomplete head ends
        self._skipped = 0       # empty lines skipped before the current head
        self._state = type(self)._read_head
        self._message = None    # the message whose body is being read
        self._remaining = 0     # bytes still due in the current chunk or body
        self._body = None       # chunked body so far
        self._held = []         # pieces of a large Content-Length body so far, joined once
        self._held_size = 0
        self._error = None

    def feed(self, data: bytes) -> None:
        """Append received bytes; nothing is parsed until the next ``next_*`` call."""
        if self._error is not None:
            raise self._error
        self._buf += data

    @property
    def buffered(self) -> int:
        """Bytes held that have not yet been returned inside a message."""
        return len(self._buf) + self._held_size + (
            len(self._body) if self._body is not None else 0)

    @property
    def in_progress(self) -> bool:
        """True when some bytes of an unfinished message are held."""
        return bool(self._buf) or self._message is not None

    def _run(self):
        if self._error is not None:
            raise self._error
        try:
            while True:
                result = self._state(self)
                if result is not AGAIN:
                    return result
        except ProtocolError as e:
            self._die(e)
            raise self._error from None

    def _die(self, error):
        self._error = error
        self._buf = bytearray()
        self._body = None
        self._held = []
        self._held_size = 0
        self._message = None

    # -- head ---------------------------------------------------------------

    def _split_head(self):
        """Take a complete head out of the buffer as a list of lines, or None."""
        buf = self._buf
        if buf.startswith(b'\r\n'):
            self._skip_empty_lines()
        end = buf.find(b'\r\n\r\n', self._scan)
        if end < 0:
            self._check_incomplete_head()
            return None
        line_end = buf.find(b'\r\n', 0, end + 2)
        if line_end > self._max_line:
            raise self._line_too_long()
        if end + 2 - line_end > self._max_header:
            raise ProtocolError(431, f'{self.kind} header block larger than '
                                     f'{self._max_header} bytes')
        text = buf[:end].decode('latin-1')
        if len(buf) == end + 4:
            buf.clear()
        else:
            del buf[:end + 4]
        self._scan = 0
        self._line_end = -1
        self._skipped = 0
        return self._lines(text, 'head')

    def _lines(self, text, part):
        """The CRLF-separated lines of a head or trailer block, checked for stray bytes."""
        lines = text.split('\r\n')
        breaks = len(lines) - 1
        if text.count('\r') != breaks or text.count('\n') != breaks:
            raise ProtocolError(400, 'CR or LF not part of a CRLF line ending')
        if '\x00' in text:
            raise ProtocolError(400, f'NUL byte in {self.kind} {part}')
        if breaks > self._max_fields:
            raise ProtocolError(431, f'more than {self._max_fields} header fields')
        return lines

    def _skip_empty_lines(self):
        buf = self._buf
        while buf[:2] == b'\r\n':
            self._skipped += 1
            if self._skipped > MAX_LEADING_EMPTY_LINES:
                raise ProtocolError(400, f'more than {MAX_LEADING_EMPTY_LINES} '
                                         f'empty lines before the {self.kind} line')
            del buf[:2]

    def _check_incomplete_head(self):
        buf = self._buf
        size = len(buf)
        start = max(self._scan - 1, 0)
        # A head that ends its lines with bare LF would never show a CRLFCRLF.
        if buf.find(b'\n\n', start) >= 0:
            raise ProtocolError(400, 'CR or LF not part of a CRLF line ending')
        line_end = self._line_end
        if line_end < 0:
            line_end = self._line_end = buf.find(b'\r\n', start, self._max_line + 2)
            if line_end < 0 and size > self._max_line + 1:
                raise self._line_too_long()
        if line_end >= 0 and size - line_end - 2 > self._max_header:
            raise ProtocolError(431, f'{self.kind} header block larger than '
                                     f'{self._max_header} bytes')
        self._scan = max(size - 3, 0)

    def _line_too_long(self):
        return ProtocolError(414, f'{self.kind} line longer than {self._max_line} bytes')

    def _parse_fields(self, lines):
        """A plain dict of the fields in lines[1:]; repeats joined with ', '."""
        fields = {}
        cache = NAME_CACHE
        for line in lines[1:]:
            name, colon, value = line.partition(':')
            key = cache.get(name)
            if key is None or not colon:
                key = field_key(line, name, colon)
            value = value.strip(' \t')
            if key in fields:
                value = repeat_field(key, fields[key], value)
            fields[key] = value
        return fields

    def _framing(self, fields, version):
        """The body length: an int, -1 for chunked, None when neither is given."""
        coding = fields.get('transfer-encoding')
        length = fields.get('content-length')
        if coding is not None:
            if length is not None:
                raise ProtocolError(400, 'both Content-Length and Transfer-Encoding')
            if version == 'HTTP/1.0':
                raise ProtocolError(400, 'Transfer-Encoding in an HTTP/1.0 message')
            codings = [c.strip(' \t').lower() for c in coding.split(',')]
            codings = [c for c in codings if c]
            if not codings or codings[-1] != 'chunked' or 'chunked' in codings[:-1]:
                raise ProtocolError(400, f'Transfer-Encoding {coding!r}: '
                                         'chunked must be the last and only once')
            if len(codings) > 1:
                raise ProtocolError(501, f'unsupported Transfer-Encoding {coding!r}')
            return -1
        if length is None:
            return None
        value = length
        if ',' in length:
            values = {v.strip(' \t') for v in length.split(',')}
            if len(values) != 1:
                raise ProtocolError(400, f'differing Content-Length values {length!r}')
            value = values.pop()
        if not (value.isascii() and value.isdigit()):
            raise ProtocolError(400, f'invalid Content-Length {length!r}')
        # Judge the value, not the digits: 000…05 is five bytes.
        digits = value.lstrip('0') or '0'
        if len(digits) > 18 or int(digits) > self._max_body:
            raise self._too_large()
        return int(digits)

    def _too_large(self):
        return ProtocolError(413, f'{self.kind} body larger than {self._max_body} bytes')

    def _start_body(self, message, length):
        """Return the message if its body is already here, else set up the body step."""
        if length is None or length == 0:
            return self._finish(message, b'')
        buf = self._buf
        if length > 0:
            if len(buf) >= length:      # the whole message arrived at once
                body = bytes(buf[:length])
                del buf[:length]
                return self._finish(message, body)
            self._remaining = length
            self._state = type(self)._read_length
        else:
            self._body = bytearray()
            self._remaining = 0
            self._state = type(self)._read_chunk_size
        self._message = message
        return AGAIN

    def _finish(self, message, body):
        message.body = body
        self._message = None
        self._body = None
        self._state = type(self)._read_head
        return message

    # -- body ---------------------------------------------------------------

    def _read_length(self):
        buf = self._buf
        n = self._remaining
        if len(buf) < n:
            if n > HOLD_FROM and len(buf) >= HOLD_PIECE:
                # A large body: hold its pieces and join them once at the end,
                # rather than grow one buffer (copying as it grows) and copy it whole.
                self._held.append(bytes(buf))
                self._held_size += len(buf)
                self._remaining = n - len(buf)
                buf.clear()
            return None
        if self._held:
            held, self._held, self._held_size = self._held, [], 0
            held.append(bytes(buf[:n]))     # the rest: what came since the last piece
            body = b''.join(held)
            del buf[:n]
        elif len(buf) == n:
            body = bytes(buf)       # the usual case: one copy, not a slice and a copy
            buf.clear()
        else:
            with memoryview(buf) as view:
                body = bytes(view[:n])
            del buf[:n]
        return self._finish(self._message, body)

    def _read_chunk_size(self):
        buf = self._buf
        end = buf.find(b'\r\n', 0, MAX_CHUNK_LINE + 2)
        if end < 0:
            if len(buf) > MAX_CHUNK_LINE + 1:
                raise ProtocolError(400, f'chunk size line longer than {MAX_CHUNK_LINE} bytes')
            return None
        line = bytes(buf[:end])
        del buf[:end + 2]
        size = line.split(b';', 1)[0].rstrip(b' \t')
        if not size or len(size) > 16 or size.translate(None, _HEX) or b'\n' in line \
                or b'\r' in line or b'\x00' in line:
            raise ProtocolError(400, f'invalid chunk size line {line[:40]!r}')
        size = int(size, 16)
        if size == 0:
            self._scan = 0
            self._state = type(self)._read_trailers
            return AGAIN
        if len(self._body) + size > self._max_body:
            raise self._too_large()
        self._remaining = size
        self._state = type(self)._read_chunk_data
        return AGAIN

    def _read_chunk_data(self):
        buf = self._buf
        if not buf:
            return None
        n = self._remaining
        if len(buf) >= n:
            self._body += buf[:n]
            del buf[:n]
            self._state = type(self)._read_chunk_end
            return AGAIN
        self._remaining -= len(buf)
        self._body += buf
        buf.clear()
        return None

    def _read_chunk_end(self):
        buf = self._buf
        if len(buf) < 2:
            if buf and buf[0] != 13:
                raise ProtocolError(400, 'chunk data not followed by CRLF')
            return None
        if buf[:2] != b'\r\n':
            raise ProtocolError(400, 'chunk data not followed by CRLF')
        del buf[:2]
        self._state = type(self)._read_chunk_size
        return AGAIN

    def _read_trailers(self):
        """Read the trailer fields, checked and bounded like a header block, and drop them.

        Checking them matters: a trailer block that a front end would split
        differently (a bare LF, a request line) is a way to smuggle a request.
        """
        buf = self._buf
        if buf[:2] == b'\r\n':
            del buf[:2]
            return self._finish(self._message, bytes(self._body))
        if len(buf) < 2:
            return None
        end = buf.find(b'\r\n\r\n', self._scan)
        if end < 0:
            if buf.find(b'\n\n', max(self._scan - 1, 0)) >= 0:
                raise ProtocolError(400, 'CR or LF not part of a CRLF line ending')
            if len(buf) > self._max_header:
                raise ProtocolError(431, f'trailer block larger than {self._max_header} bytes')
            self._scan = max(len(buf) - 3, 0)
            return None
        if end + 4 > self._max_header:
            raise ProtocolError(431, f'trailer block larger than {self._max_header} bytes')
        text = buf[:end].decode('latin-1')
        del buf[:end + 4]
        self._scan = 0
        self._parse_fields([''] + self._lines(text, 'trailer'))
        return self._finish(self._message, bytes(self._body))
