"""The one place HTTP/1.1 messages are written: response heads and requests.

A response head is the status line and Content-Type, which are cached per
(status, type, reason, framing), then the framing value and the fields the
caller adds. A body is framed by its length, sent in chunks (CHUNKED), or
ends when the connection closes (UNTIL_CLOSE, for an HTTP/1.0 peer). Text a handler chose (header names and values, a reason, a
content type) is checked here: a CR, LF or NUL that would split the head is
refused with ValueError, never written.
"""
import time
from email.utils import formatdate
from http import HTTPStatus

from .fields import lower_token

REASONS = {s.value: s.phrase for s in HTTPStatus}
CHUNKED = None              # `length` of a body sent in chunks
UNTIL_CLOSE = 'until close'  # `length` of a body that ends when the connection closes
LAST_CHUNK = b'0\r\n\r\n'
_MAX_HEADS = 512
_heads = {}
# Framing is the writer's to get right: a handler's own is dropped.
_FRAMING_FIELDS = frozenset(('content-length', 'transfer-encoding'))


def has_body(status):
    """Whether a response with this status carries a body (RFC 9110 §6.4.1)."""
    return status >= 200 and status != 204 and status != 304


def check_text(what, value):
    """Refuse text that would break out of its line in a head (ValueError)."""
    if '\r' in value or '\n' in value or '\0' in value:
        raise ValueError(f'CR, LF or NUL in {what}: {value!r}')
    try:
        value.encode('latin-1')
    except UnicodeEncodeError:
        raise ValueError(f'{what} is not latin-1: {value!r}') from None


def field_lines(headers):
    """(the Content-Type given or None, the other fields as header lines).

    `headers` is a dict or a list of pairs. A given Content-Type replaces the
    default one instead of doubling it; Content-Length and Transfer-Encoding
    are dropped (the writer frames the body). ValueError for a name that is
    not a token, or a value that would split the head.
    """
    items = headers.items() if hasattr(headers, 'items') else headers
    lines = []
    content_type = None
    for name, value in items:
        name = str(name)
        value = str(value)
        lower = lower_token(name)
        if lower is None:
            raise ValueError(f'bad header name {name!r}')
        check_text(f'header {name!r}', value)
        if lower == 'content-type':
            content_type = value
        elif lower not in _FRAMING_FIELDS:
            lines.append(f'{name}: {value}\r\n')
    return content_type, ''.join(lines).encode('latin-1')


def status_line(status, reason=None, version='HTTP/1.1'):
    if reason is None:
        reason = REASONS.get(status, 'Unknown')
    return f'{version} {status} {reason}\r\n'.encode('latin-1')


def _prefix(status, content_type, reason, framing):
    """(the start of a head, whether a body follows): up to the Content-Length
    value, or past the framing; cached per (status, type, reason, framing).
    `framing` is CHUNKED, UNTIL_CLOSE or False (a Content-Length)."""
    if reason is not None:
        check_text('reason', reason)
    head = status_line(status, reason)
    body = has_body(status)
    if body:
        if content_type:
            check_text('Content-Type', content_type)
            head += b'Content-Type: ' + content_type.encode('latin-1') + b'\r\n'
        if framing is CHUNKED:
            head += b'Transfer-Encoding: chunked\r\n'
        elif framing is not UNTIL_CLOSE:
            head += b'Content-Length: '
    entry = head, body
    if len(_heads) < _MAX_HEADS:
        _heads[status, content_type, reason, framing] = entry
    return entry


def response_head(status, content_type=None, length=0, fields=b'', reason=None):
    """A response head: status line, Content-Type, framing, then `fields` (header lines).

    `length` is the body's size, CHUNKED for a body sent in chunks (HTTP/1.1),
    or UNTIL_CLOSE for one that ends when the connection does (an HTTP/1.0
    peer: pass `fields` with `Connection: close`). A status without a body
    (1xx, 204, 304) gets no Content-Type and no framing.
    """
    framing = length if length is CHUNKED or length is UNTIL_CLOSE else False
    entry = _heads.get((status, content_type, reason, framing))
    if entry is None:
        entry = _prefix(status, content_type, reason, framing)
    head, body = entry
    if body and framing is False:
        return b'%s%d\r\n%s\r\n' % (head, length, fields)
    return b'%s%s\r\n' % (head, fields)


def chunk(data):
    """One chunk of a chunked body (never empty: the empty chunk ends the body)."""
    return b'%x\r\n%s\r\n' % (len(data), data)


class Clock:
    """The Date field's value, formatted once a second."""
    second = 0
    value = b''

    @classmethod
    def date(cls):
        now = int(time.time())
        if now != cls.second:
            cls.second = now
            cls.value = formatdate(now, usegmt=True).encode()
        return cls.value


def request_fields(headers):
    """Header lines for a request, from a dict or pairs; ValueError for a bad name or value."""
    items = headers.items() if hasattr(headers, 'items') else headers
    parts = []
    for name, value in items:
        if not isinstance(value, str):
            value = str(value)
        if lower_token(name) is None:
            raise ValueError(f'invalid header name {name!r}')
        if '\r' in value or '\n' in value or '\x00' in value:
            raise ValueError(f'invalid value for header {name!r}: CR, LF or NUL')
        parts += (name, ': ', value, '\r\n')
    try:
        return ''.join(parts).encode('latin-1')
    except UnicodeEncodeError:
        for name, value in items:
            try:
                str(value).encode('latin-1')
            except UnicodeEncodeError:
                raise ValueError(f'value for header {name!r} is not latin-1') from None
        raise


def request_head(method, target, fields=b''):
    """A request line and its header lines (`fields`, already checked), ending the head."""
    if lower_token(method) is None:
        raise ValueError(f'invalid method {method!r}')
    if not target or not (target.isascii() and target.isprintable()) or ' ' in target:
        raise ValueError(f'invalid request target {target!r}')
    return b'%s %s HTTP/1.1\r\n%s\r\n' % (method.encode(), target.encode(), fields)


def request_bytes(method: str, target: str, headers: list[tuple[str, str]],
                  body: bytes = b'') -> bytes:
    """Serialize an HTTP/1.1 request exactly as given: no header is added on its own."""
    return request_head(method, target, request_fields(headers)) + body
