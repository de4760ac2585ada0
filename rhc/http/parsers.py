"""The request parser (server side) and the response parser (client side).

``next_request`` / ``next_response`` return complete messages, or None until
more bytes arrive. Malformed input raises ``ProtocolError`` carrying the
status to answer with; after that the parser is dead and the driver closes
the connection.
"""
from collections import deque

from .fields import (AGAIN, MAX_BODY, MAX_HEADER, MAX_HEADER_FIELDS, MAX_INTERIM_RESPONSES,
                     MAX_REQUEST_LINE, NAME_CACHE, ProtocolError, as_headers, stays_open,
                     lower_token)
from .reader import Request, Response, MessageReader

_NO_BODY_STATUS = frozenset((204, 304))


class RequestParser(MessageReader):
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
        request = Request(method, target, path, query, version, as_headers(fields), b'',
                          stays_open(version, fields.get('connection')))
        if length is None:
            return request
        result = self._start_body(request, length)
        if result is AGAIN:
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
    if method not in NAME_CACHE and lower_token(method) is None:
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


class ResponseParser(MessageReader):
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
            return AGAIN
        self._interim = 0
        method = self._methods.popleft() if self._methods else 'GET'
        keep_alive = status != 101 and stays_open(version, fields.get('connection'))
        response = Response(status, reason, version, as_headers(fields), b'', keep_alive)
        if method == 'HEAD' or status < 200 or status in _NO_BODY_STATUS:
            return self._finish(response, b'')
        length = self._framing(fields, version)
        if length is None:
            response.keep_alive = False
            self._message = response
            self._state = type(self)._read_until_close
            return AGAIN
        return self._start_body(response, length)

    def _read_until_close(self):
        if len(self._buf) > self._max_body:
            raise self._too_large()
        if not self._eof:
            return None
        body = bytes(self._buf)
        self._buf.clear()
        return self._finish(self._message, body)
