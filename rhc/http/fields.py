"""What both HTTP parsers share: limits, the error they raise, field names and headers."""

MAX_REQUEST_LINE = 8192
MAX_HEADER = 65536
MAX_HEADER_FIELDS = 100
MAX_BODY = 10 * 1024 * 1024
MAX_CHUNK_LINE = 4096           # chunk size plus extensions
MAX_LEADING_EMPTY_LINES = 8     # RFC 9112 §2.2 lets us skip "at least one"
MAX_INTERIM_RESPONSES = 8       # 1xx responses before a final one
TOKEN_CHARS = frozenset("!#$%&'*+-.^_`|~0123456789"
                         "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")

# Valid field names as sent -> lower-case form. Almost every request repeats
# the same few names, so validating each once beats a per-header check.
NAME_CACHE: dict[str, str] = {}
NAME_CACHE_SIZE = 1024

AGAIN = object()    # a parser step made progress: run the next step


class ProtocolError(Exception):
    """The peer sent something we cannot accept; ``status`` is the answer to give."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message

    def __repr__(self):
        return f'ProtocolError({self.status}, {self.message!r})'


def lower_token(name: str) -> str | None:
    """The lower-case form of a valid field name or method, None if not a token."""
    lower = NAME_CACHE.get(name)
    if lower is None and name and TOKEN_CHARS.issuperset(name):
        lower = name.lower()
        if len(NAME_CACHE) < NAME_CACHE_SIZE:
            NAME_CACHE[name] = lower
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


def stays_open(version: str, connection: str | None) -> bool:
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


def field_key(line, name, colon):
    """The lower-case key of a field line not in the name cache, or the error it makes."""
    if line[:1] in (' ', '\t'):
        raise ProtocolError(400, 'obsolete line folding in header')
    if not colon:
        raise ProtocolError(400, f'header line without a colon: {line[:40]!r}')
    key = lower_token(name)
    if key is None:
        raise ProtocolError(400, f'invalid header name {name[:40]!r}')
    return key


def repeat_field(key, old, value):
    """The value of a field sent again."""
    if key == 'set-cookie':         # cookies hold commas: keep the last
        return value
    if key == 'host':
        raise ProtocolError(400, 'more than one Host header')
    return f'{old}, {value}'


def as_headers(fields):
    headers = dict.__new__(Headers)
    dict.update(headers, fields)
    return headers
