"""Sans-IO HTTP/1.1: request and response parsers, and the two serializers.

Bytes go in with ``feed``; complete ``Request`` or ``Response`` objects come out
of ``next_request`` / ``next_response``. Nothing here touches a socket, a clock
or a loop. Malformed input raises ``ProtocolError`` carrying the status to
answer with; after that the parser is dead and the driver closes the connection.
"""
from collections import deque
from http import HTTPStatus

MAX_REQUEST_LINE = 8192
MAX_HEADER = 65536
MAX_HEADER_FIELDS = 100
MAX_BODY = 10 * 1024 * 1024
MAX_CHUNK_LINE = 4096           # chunk size plus extensions
MAX_LEADING_EMPTY_LINES = 8     # RFC 9112 §2.2 lets us skip "at least one"
MAX_INTERIM_RESPONSES = 8       # 1xx responses before a final one

_TOKEN_CHARS = frozenset("!#$%&'*+-.^_`|~0123456789"
                         "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
_HEX = b'0123456789abcdefABCDEF'
_REASONS = {s.value: s.phrase for s in HTTPStatus}
_NO_BODY_STATUS = frozenset((204, 304))

# Valid field names as sent -> lower-case form. Almost every request repeats
# the same few names, so validating each once beats a per-header check.
_NAME_CACHE: dict[str, str] = {}
_NAME_CACHE_SIZE = 1024

_AGAIN = object()   # a parser step made progress: run the next step


class ProtocolError(Exception):
    """The peer sent something we cannot accept; ``status`` is the answer to give."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message

    def __repr__(self):
        return f'ProtocolError({self.status}, {self.message!r})'


def _lower_token(name: str) -> str | None:
    """The lower-case form of a valid field name or method, None if not a token."""
    lower = _NAME_CACHE.get(name)
    if lower is None and name and _TOKEN_CHARS.issuperset(name):
        lower = name.lower()
        if len(_NAME_CACHE) < _NAME_CACHE_SIZE:
            _NAME_CACHE[name] = lower
    return lower


class Headers(dict):
    """A dict whose keys are lower-case field names; lookups accept any case."""

    __slots__ = ()

    def __init__(self, *args, **kwargs):
        super().__init__()
        self.update(*args, **kwargs)

    def __getitem__(self, key):
        return dict.__getitem__(self, key.lower())

    def __setitem__(self, key, value):
        dict.__setitem__(self, key.lower(), value)

    def __delitem__(self, key):
        dict.__delitem__(self, key.lower())

    def __contains__(self, key):
        return isinstance(key, str) and dict.__contains__(self, key.lower())

    def get(self, key, default=None):
        return dict.get(self, key.lower(), default)

    def pop(self, key, *default):
        return dict.pop(self, key.lower(), *default)

    def setdefault(self, key, default=None):
        return dict.setdefault(self, key.lower(), default)

    def update(self, *args, **kwargs):
        for key, value in dict(*args, **kwargs).items():
            dict.__setitem__(self, key.lower(), value)

    def copy(self):
        return Headers(self)

    def add(self, name, value):
        """Add a field the way a repeated header is combined: joined with ', '."""
        key = name.lower()
        old = dict.get(self, key)
        if old is None or key == 'set-cookie':
            dict.__setitem__(self, key, value)
        else:
            dict.__setitem__(self, key, f'{old}, {value}')

    def __repr__(self):
        return f'Headers({dict.__repr__(self)})'


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


def _keep_alive(version: str, connection: str | None) -> bool:
    """Whether the connection stays open, from the version and the Connection field."""
    if connection is None:
        return version == 'HTTP/1.1'
    lower = connection.lower()
    if lower == 'keep-alive':
        return True
    if lower == 'close':
        return False
    tokens = [t.strip(' \t') for t in lower.split(',')]
    if version == 'HTTP/1.1':
        return 'close' not in tokens
    return 'keep-alive' in tokens


def _field_key(line, name, colon):
    """The lower-case key of a field line not in the name cache, or the error it makes."""
    if line[:1] in (' ', '\t'):
        raise ProtocolError(400, 'obsolete line folding in header')
    if not colon:
        raise ProtocolError(400, f'header line without a colon: {line[:40]!r}')
    key = _lower_token(name)
    if key is None:
        raise ProtocolError(400, f'invalid header name {name[:40]!r}')
    return key


def _repeat(key, old, value):
    """The value of a field sent again."""
    if key == 'set-cookie':         # cookies hold commas: keep the last
        return value
    if key == 'host':
        raise ProtocolError(400, 'more than one Host header')
    return f'{old}, {value}'


def _as_headers(fields):
    headers = dict.__new__(Headers)
    dict.update(headers, fields)
    return headers


class _MessageReader:
    """What both parsers share: the buffer, the head, the fields, the body.

    The current step is a bound method in ``_state``; each step returns None
    (need more bytes), ``_AGAIN`` (progress made, run the next step) or the
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
        self._state = self._read_head
        self._message = None    # the message whose body is being read
        self._remaining = 0     # bytes still due in the current chunk or body
        self._body = None       # chunked body so far
        self._error = None

    def feed(self, data: bytes) -> None:
        """Append received bytes; nothing is parsed until the next ``next_*`` call."""
        if self._error is not None:
            raise self._error
        self._buf += data

    @property
    def buffered(self) -> int:
        """Bytes held that have not yet been returned inside a message."""
        return len(self._buf) + (len(self._body) if self._body is not None else 0)

    @property
    def in_progress(self) -> bool:
        """True when some bytes of an unfinished message are held."""
        return bool(self._buf) or self._message is not None

    def _run(self):
        if self._error is not None:
            raise self._error
        try:
            while True:
                result = self._state()
                if result is not _AGAIN:
                    return result
        except ProtocolError as e:
            self._die(e)
            raise self._error from None

    def _die(self, error):
        self._error = error
        self._buf = bytearray()
        self._body = None
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
        cache = _NAME_CACHE
        for line in lines[1:]:
            name, colon, value = line.partition(':')
            key = cache.get(name)
            if key is None or not colon:
                key = _field_key(line, name, colon)
            value = value.strip(' \t')
            if key in fields:
                value = _repeat(key, fields[key], value)
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
            self._state = self._read_length
        else:
            self._body = bytearray()
            self._remaining = 0
            self._state = self._read_chunk_size
        self._message = message
        return _AGAIN

    def _finish(self, message, body):
        message.body = body
        self._message = None
        self._body = None
        self._state = self._read_head
        return message

    # -- body ---------------------------------------------------------------

    def _read_length(self):
        buf = self._buf
        n = self._remaining
        if len(buf) < n:
            return None
        body = bytes(buf[:n])
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
            self._state = self._read_trailers
            return _AGAIN
        if len(self._body) + size > self._max_body:
            raise self._too_large()
        self._remaining = size
        self._state = self._read_chunk_data
        return _AGAIN

    def _read_chunk_data(self):
        buf = self._buf
        if not buf:
            return None
        n = self._remaining
        if len(buf) >= n:
            self._body += buf[:n]
            del buf[:n]
            self._state = self._read_chunk_end
            return _AGAIN
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
        self._state = self._read_chunk_size
        return _AGAIN

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


class RequestParser(_MessageReader):
    """Turn the bytes a client sends into ``Request`` objects, pipelining included."""

    kind = 'request'

    def __init__(self, max_request_line=MAX_REQUEST_LINE, max_header=MAX_HEADER,
                 max_header_fields=MAX_HEADER_FIELDS, max_body=MAX_BODY):
        super().__init__(max_request_line, max_header, max_header_fields, max_body)
        self.expect_continue = False

    def next_request(self) -> Request | None:
        """The next complete request, or None until more bytes are fed.

        Raises ProtocolError; after that every call raises the same error.
        """
        if not self._buf and self._message is None and self._error is None:
            return None
        return self._run()

    def continue_sent(self) -> None:
        """The driver has answered ``Expect: 100-continue`` (with 100, or a final status)."""
        self.expect_continue = False

    @property
    def pending_request(self) -> Request | None:
        """The request whose head is parsed and whose body is still being read."""
        return self._message

    def _finish(self, message, body):
        self.expect_continue = False
        return super()._finish(message, body)

    def _read_head(self):
        lines = self._split_head()
        if lines is None:
            return None
        method, target, version, path, query = _request_line(lines[0])
        fields = self._parse_fields(lines)
        if version == 'HTTP/1.1' and 'host' not in fields:
            raise ProtocolError(400, 'HTTP/1.1 request without a Host header')
        if 'content-length' in fields or 'transfer-encoding' in fields:
            length = self._framing(fields, version)
        else:
            length = None
        request = Request(method, target, path, query, version, _as_headers(fields), b'',
                          _keep_alive(version, fields.get('connection')))
        if length is None:
            return request
        result = self._start_body(request, length)
        if result is _AGAIN:
            expect = fields.get('expect')
            self.expect_continue = (expect is not None and version == 'HTTP/1.1'
                                    and expect.lower() == '100-continue')
        return result


def _request_line(line):
    """(method, target, version, path, query_string) of a request line."""
    if not (line.isascii() and line.isprintable()):
        raise ProtocolError(400, 'non-ASCII or control character in request line')
    parts = line.split(' ')
    if len(parts) != 3:
        raise ProtocolError(400, f'malformed request line {line[:80]!r}')
    method, target, version = parts
    if version != 'HTTP/1.1' and version != 'HTTP/1.0':
        if (len(version) == 8 and version.startswith('HTTP/') and version[5].isdigit()
                and version[6] == '.' and version[7].isdigit()):
            raise ProtocolError(505, f'HTTP version {version} not supported')
        raise ProtocolError(400, f'malformed request line {line[:80]!r}')
    if method not in _NAME_CACHE and _lower_token(method) is None:
        raise ProtocolError(400, f'invalid method {method[:40]!r}')
    if target[:1] == '/':
        path, _, query = target.partition('?')
    else:
        path, query = _split_target(method, target)
    return method, target, version, path, query


def _split_target(method, target):
    """(path, query_string) of a target in absolute form or '*'; no other form."""
    if target == '*':
        if method != 'OPTIONS':
            raise ProtocolError(400, f"target '*' with method {method}")
        return '*', ''
    scheme = target[:8].lower()
    if scheme.startswith('http://') or scheme.startswith('https://'):
        rest = target[target.index('//') + 2:]
        end = len(rest)
        for stop in '/?':
            i = rest.find(stop)
            if 0 <= i < end:
                end = i
        if end == 0:
            raise ProtocolError(400, f'no host in request target {target[:80]!r}')
        path, _, query = rest[end:].partition('?')
        return path or '/', query
    raise ProtocolError(400, f'invalid request target {target[:80]!r}')


class ResponseParser(_MessageReader):
    """Turn the bytes a server sends into ``Response`` objects.

    Call ``expect(method)`` for every request sent, in order, so that the
    response to HEAD is read without a body.
    """

    kind = 'response'

    def __init__(self, max_header=MAX_HEADER, max_header_fields=MAX_HEADER_FIELDS,
                 max_body=MAX_BODY):
        super().__init__(max_header, max_header, max_header_fields, max_body)
        self._methods = deque()
        self._eof = False
        self._interim = 0

    def expect(self, method: str) -> None:
        self._methods.append(method)

    def feed_eof(self) -> None:
        """The peer closed: ends a read-until-close body; anything else cut short is an error."""
        self._eof = True

    def next_response(self) -> Response | None:
        """The next final response, or None until more bytes (or the EOF) arrive.

        Raises ProtocolError with status 502; after that every call raises it.
        """
        try:
            response = self._run()
        except ProtocolError as e:
            if e.status != 502:
                self._error = ProtocolError(502, e.message)
                raise self._error from None
            raise
        if response is None and self._eof and self.in_progress:
            self._die(ProtocolError(502, 'connection closed mid-response'))
            raise self._error
        return response

    def _too_large(self):
        return ProtocolError(502, f'response too large: body over {self._max_body} bytes')

    def _read_head(self):
        lines = self._split_head()
        if lines is None:
            return None
        line = lines[0]
        version, _, rest = line.partition(' ')
        code, _, reason = rest.partition(' ')
        if (version != 'HTTP/1.1' and version != 'HTTP/1.0') or len(code) != 3 \
                or not (code.isascii() and code.isdigit()) or code[0] == '0':
            raise ProtocolError(502, f'malformed status line {line[:80]!r}')
        status = int(code)
        fields = self._parse_fields(lines)
        if 100 <= status < 200 and status != 101:
            # Interim responses are skipped, but only so many: an endless
            # stream of them must not hold a call open forever.
            self._interim += 1
            if self._interim > MAX_INTERIM_RESPONSES:
                raise ProtocolError(502, f'more than {MAX_INTERIM_RESPONSES} interim responses')
            return _AGAIN
        self._interim = 0
        method = self._methods.popleft() if self._methods else 'GET'
        keep_alive = status != 101 and _keep_alive(version, fields.get('connection'))
        response = Response(status, reason, version, _as_headers(fields), b'', keep_alive)
        if method == 'HEAD' or status < 200 or status in _NO_BODY_STATUS:
            return self._finish(response, b'')
        length = self._framing(fields, version)
        if length is None:
            response.keep_alive = False
            self._message = response
            self._state = self._read_until_close
            return _AGAIN
        return self._start_body(response, length)

    def _read_until_close(self):
        if len(self._buf) > self._max_body:
            raise self._too_large()
        if not self._eof:
            return None
        body = bytes(self._buf)
        self._buf.clear()
        return self._finish(self._message, body)


def _head_lines(first_line, headers):
    parts = [first_line, '\r\n']
    for name, value in headers:
        if not isinstance(value, str):
            value = str(value)
        if _lower_token(name) is None:
            raise ValueError(f'invalid header name {name!r}')
        if '\r' in value or '\n' in value or '\x00' in value:
            raise ValueError(f'invalid value for header {name!r}: CR, LF or NUL')
        parts += (name, ': ', value, '\r\n')
    parts.append('\r\n')
    try:
        return ''.join(parts).encode('latin-1')
    except UnicodeEncodeError:
        for name, value in headers:
            try:
                str(value).encode('latin-1')
            except UnicodeEncodeError:
                raise ValueError(f'value for header {name!r} is not latin-1') from None
        raise ValueError(f'first line {first_line!r} is not latin-1') from None


def response_bytes(status: int, headers: list[tuple[str, str]], body: bytes = b'',
                   reason: str | None = None, version: str = 'HTTP/1.1') -> bytes:
    """Serialize a response exactly as given: no header is added on its own."""
    if not 100 <= status <= 999:
        raise ValueError(f'invalid status {status!r}')
    if reason is None:
        reason = _REASONS.get(status, 'Unknown')
    elif '\r' in reason or '\n' in reason or '\x00' in reason:
        raise ValueError(f'invalid reason {reason!r}: CR, LF or NUL')
    return _head_lines(f'{version} {status} {reason}', headers) + body


def request_bytes(method: str, target: str, headers: list[tuple[str, str]],
                  body: bytes = b'') -> bytes:
    """Serialize an HTTP/1.1 request exactly as given: no header is added on its own."""
    if _lower_token(method) is None:
        raise ValueError(f'invalid method {method!r}')
    if not target or not (target.isascii() and target.isprintable()) or ' ' in target:
        raise ValueError(f'invalid request target {target!r}')
    return _head_lines(f'{method} {target} HTTP/1.1', headers) + body
