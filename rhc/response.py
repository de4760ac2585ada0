"""What a call's answer holds, and how its body becomes a result.

`Response` is what `full=True` returns (and what the test client returns):
the status, the headers and the body, whatever the status. `decode_body`
undoes a `Content-Encoding`; `result_of` turns a body into the value a
callback gets: JSON when asked and labelled so, text when the answer says it
is text, and bytes otherwise, so a binary body is never decoded lossily.
"""
import json
import zlib

from rhc.errors import CallError

_TEXT_TYPES = ('json', 'xml', 'javascript', 'x-www-form-urlencoded')
_decode_json = json.JSONDecoder().decode


def parse_json(body):
    """A JSON body (bytes) as Python; UTF-8, as RFC 8259 has it, else what json detects."""
    try:
        text = body.decode('utf-8')
    except UnicodeDecodeError:
        return json.loads(body)
    return _decode_json(text)


def charset_of(content_type):
    """The `charset=` of a Content-Type, or None."""
    if not content_type or 'charset=' not in content_type.lower():
        return None
    for param in content_type.split(';')[1:]:
        name, _, value = param.partition('=')
        if name.strip().lower() == 'charset':
            return value.strip().strip('"') or None
    return None


def is_text(content_type):
    """True when an answer with this Content-Type is text."""
    if not content_type:
        return False
    lower = content_type.lower()
    kind = lower.split(';', 1)[0].strip()
    return (kind.startswith('text/') or 'charset=' in lower
            or any(word in kind for word in _TEXT_TYPES))


def text_of(body, content_type):
    """The body decoded by its charset (UTF-8 when none or unknown)."""
    charset = charset_of(content_type) or 'utf-8'
    try:
        return body.decode(charset, 'replace')
    except LookupError:
        return body.decode('utf-8', 'replace')


def decode_body(body, content_encoding, max_size):
    """The body with a gzip or deflate `Content-Encoding` undone (at most `max_size` bytes)."""
    if not content_encoding or not body:
        return body
    coding = content_encoding.strip().lower()
    if coding in ('identity', ''):
        return body
    if coding in ('gzip', 'x-gzip'):
        attempts = (16 + zlib.MAX_WBITS,)
    elif coding == 'deflate':
        # RFC 9110 says zlib-wrapped; some servers send raw deflate.
        attempts = (zlib.MAX_WBITS, -zlib.MAX_WBITS)
    else:
        raise CallError(f'unsupported Content-Encoding {content_encoding!r}')
    for wbits in attempts:
        inflater = zlib.decompressobj(wbits)
        try:
            data = inflater.decompress(body, max_size + 1)
        except zlib.error as e:
            error = e
            continue
        if len(data) > max_size or inflater.unconsumed_tail:
            raise CallError(f'response too large: decoded body over {max_size} bytes')
        return data
    raise CallError(f'malformed {coding} body: {error}')


def result_of(body, content_type, is_json):
    """The callback's result for a body: JSON, text, or bytes (see the module doc)."""
    if is_json and (content_type is None or 'json' in content_type.lower()):
        if not body:
            return None
        try:
            return parse_json(body)
        except ValueError as e:
            raise CallError(f'malformed JSON in response: {e}') from None
    if is_text(content_type):
        return text_of(body, content_type)
    if is_json and not body:
        return None
    return body


class Response:
    """A whole answer: `status`, `reason`, `headers` (any case), `body` (bytes)."""

    __slots__ = ('status', 'reason', 'headers', 'body')

    def __init__(self, status, reason, headers, body):
        self.status = status
        self.reason = reason
        self.headers = headers
        self.body = body

    @property
    def text(self):
        """The body decoded by its charset (UTF-8 by default)."""
        return text_of(self.body, self.headers.get('content-type'))

    def json(self):
        """The body parsed as JSON (ValueError when it is not JSON)."""
        return json.loads(self.body)

    @property
    def ok(self):
        return 200 <= self.status < 400

    def __repr__(self):
        return f'<Response {self.status} {self.reason} body={len(self.body)}>'
