"""Server-Sent Events: events to bytes for a server, bytes to events for a client.

The framing of the WHATWG HTML standard, "Server-sent events" (the event
stream format and its interpretation). Pure: no sockets, no clock; the
server writes ``encode(item)`` (and ``PING`` after a silence) and the client
feeds what it reads to an ``EventParser``.
"""
import codecs
import json
import re

CONTENT_TYPE = 'text/event-stream'
PING = b': ping\n\n'            # a comment line: keeps idle connections and proxies open

MAX_LINE = 1 << 20              # characters in one line of the stream
MAX_DATA = 16 << 20             # characters of data in one event
# Python refuses to convert longer digit strings (sys.int_info); a retry
# value beyond it (a reconnection time of 10**4300 ms) is ignored.
_MAX_RETRY_DIGITS = 4300

_LINE_END = re.compile(r'\r\n|\r|\n')
_NOT_IN_FIELD = re.compile(r'[\r\n\x00]')


class EventStreamError(ValueError):
    """The stream broke one of the parser's limits."""


class Event:
    """One event: ``data`` (str; a dict or list is sent as JSON), its type, id and retry.

    Events from an ``EventParser`` always have a str ``event`` ('message' by
    default) and ``id`` (the stream's last event id, '' before any).
    """

    __slots__ = ('data', 'event', 'id', 'retry')

    def __init__(self, data, event=None, id=None, retry=None):
        self.data = data
        self.event = event
        self.id = id
        self.retry = retry

    def __eq__(self, other):
        if not isinstance(other, Event):
            return NotImplemented
        return (self.data, self.event, self.id, self.retry) == (
            other.data, other.event, other.id, other.retry)

    __hash__ = None

    def __repr__(self):
        return f'Event({self.data!r}, event={self.event!r}, id={self.id!r}, retry={self.retry!r})'


def encode(item):
    """The bytes of one event for a str, a dict or list (as JSON), or an Event.

    Multi-line text becomes one ``data:`` line per line (CRLF, CR and LF all
    end a line, as the parser will read them). Raises ValueError for an
    event name or id the stream cannot carry, TypeError for other types.
    """
    lines = []
    data = item
    if isinstance(item, Event):
        if item.event is not None:
            lines.append('event: ' + _field_value('event name', item.event))
        if item.id is not None:
            lines.append('id: ' + _field_value('event id', _int_as_str(item.id)))
        if item.retry is not None:
            lines.append(f'retry: {_retry_value(item.retry)}')
        data = item.data
    lines.extend(['data: ' + line for line in _LINE_END.split(_as_text(data))])
    lines.append('\n')
    return '\n'.join(lines).encode('utf-8')


def _as_text(data):
    if isinstance(data, str):
        return data
    if isinstance(data, (dict, list)):
        # JSON escapes CR and LF inside strings, so this is always one line
        return json.dumps(data, ensure_ascii=False, separators=(',', ':'))
    raise TypeError(f'event data must be a str, dict or list, not {type(data).__name__}')


def _int_as_str(value):
    """An int id (a counter is common) as its digits; anything else as it is."""
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


def _field_value(what, value):
    if not isinstance(value, str):
        raise TypeError(f'an {what} must be a str, not {type(value).__name__}')
    if _NOT_IN_FIELD.search(value):
        raise ValueError(f'an {what} cannot hold CR, LF or NUL: {value!r}')
    return value


def _retry_value(retry):
    if not isinstance(retry, int) or isinstance(retry, bool):
        raise TypeError(f'retry must be an int (milliseconds), not {type(retry).__name__}')
    if retry < 0:
        raise ValueError(f'retry must not be negative: {retry}')
    return retry


class EventParser:
    """Bytes of an event stream in, ``Event``s out, in any chunking.

    Follows the WHATWG algorithm: UTF-8 (invalid bytes become U+FFFD, one
    leading BOM is dropped), lines end with CRLF, LF or CR, a blank line
    dispatches, an event without data lines is not dispatched, and an event
    left unterminated when the stream ends is discarded. ``last_event_id``
    and ``retry`` (the reconnection time in ms, None until sent) are the
    stream's state for a client that reconnects. A line over ``max_line``
    characters, or an event with over ``max_data`` characters of data,
    raises EventStreamError; the parser is not usable after that. A client
    that reconnects starts a new parser with the `last_event_id` it had.
    """

    def __init__(self, max_line=MAX_LINE, max_data=MAX_DATA, last_event_id=''):
        self.last_event_id = last_event_id
        self.retry = None
        self._max_line = max_line
        self._max_data = max_data
        self._decoder = codecs.getincrementaldecoder('utf-8-sig')('replace')
        self._pieces = []           # the unterminated line, in the pieces it came in
        self._pending = 0           # its length
        self._skip_lf = False       # the last feed ended with CR: an LF now ends nothing
        self._data = []
        self._data_size = 0
        self._event_type = ''
        self._id_buffer = last_event_id

    def feed(self, data):
        """The events completed by these bytes (often none)."""
        events = []
        text = self._decoder.decode(data)
        if text:
            self._split(text, events)
        return events

    def close(self):
        """The stream ended: an event not yet ended by a blank line is discarded."""
        self._decoder.decode(b'', True)
        self._pieces, self._pending, self._skip_lf = [], 0, False
        self._data, self._data_size, self._event_type = [], 0, ''

    def _split(self, text, events):
        start = 0
        if self._skip_lf:
            self._skip_lf = False
            if text[0] == '\n':
                start = 1
        for match in _LINE_END.finditer(text, start):
            line = text[start:match.start()]
            if self._pieces:
                self._pieces.append(line)
                line = ''.join(self._pieces)
                self._pieces, self._pending = [], 0
            if len(line) > self._max_line:
                self._too_long('a line of the event stream', self._max_line)
            self._line(line, events)
            start = match.end()
        self._skip_lf = text[-1] == '\r'
        if start < len(text):
            self._pending += len(text) - start
            if self._pending > self._max_line:
                self._too_long('a line of the event stream', self._max_line)
            self._pieces.append(text[start:])

    def _too_long(self, what, limit):
        self._pieces, self._data = [], []
        raise EventStreamError(f'{what} is longer than {limit} characters')

    def _line(self, line, events):
        if not line:
            self._dispatch(events)
            return
        if line[0] == ':':
            return
        name, colon, value = line.partition(':')
        if value[:1] == ' ':
            value = value[1:]
        if name == 'data':
            self._data_size += len(value) + 1
            if self._data_size > self._max_data:
                self._too_long('the data of one event', self._max_data)
            self._data.append(value)
        elif name == 'event':
            self._event_type = value
        elif name == 'id':
            if '\x00' not in value:
                self._id_buffer = value
        elif name == 'retry':
            digits = value.lstrip('0') or '0'
            if value.isascii() and value.isdigit() and len(digits) <= _MAX_RETRY_DIGITS:
                self.retry = int(digits)

    def _dispatch(self, events):
        self.last_event_id = self._id_buffer
        if self._data:
            events.append(Event('\n'.join(self._data), self._event_type or 'message',
                                self.last_event_id))
        self._data, self._data_size, self._event_type = [], 0, ''
