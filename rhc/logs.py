"""rhc's own log handler: lines kept in memory and written at least every 100 ms.

`logging` stays the interface. `rhc.access` and every other logger are
ordinary loggers: attach handlers, add filters, set levels as usual.
`configure()`, which `python -m rhc.launch` calls, puts one
`BufferedHandler` on the root logger. It formats each record as text or as
one JSON object a line, and keeps the line; the lines go out in one write

- at most FLUSH_INTERVAL after the first of them (a timer on the loop),
- when MAX_BUFFERED characters are waiting,
- at once for a WARNING or worse, and for any record while the loop is not
  running (no timer could fire),
- before a fork, and at exit (`logging.shutdown` flushes every handler).

So a crash loses at most the last FLUSH_INTERVAL of lines (longer only while
a handler blocks the loop, which also stops the timer). A forked child
writes each line at once until `bind(loop)` names its loop.

The fast path. Making and formatting a LogRecord costs about as much as
serving a small request, so the access log skips that when nobody could
tell: `fast_handler(logger)` returns rhc's handler exactly when, on the way
from `logger` up to the root (as far as `propagate` lets records go),

- no logger has a filter,
- the only handler on any of them is one `BufferedHandler` (not a subclass),
  with no filter, a level of INFO or lower, and the formatter it made itself.

Then rhc makes the very line the record would have made (`text_prefix`,
`json_request_line`) and hands it to `handler.add`. Attaching any other
handler on that path (pytest's `caplog` does), a filter, or another
formatter sends access lines through `logging` again, as records that
carry the request's fields (`record.cid`, `record.route`, ... REQUEST_FIELDS).
"""
import json
import logging
import os
import sys
import time
import weakref

_time = time.time

FLUSH_INTERVAL = 0.1        # seconds: the most a line waits while the loop runs
MAX_BUFFERED = 64 * 1024    # characters waiting before they are written at once
URGENT = logging.WARNING    # records at this level or above are written at once
INFO = logging.INFO

TEXT_FORMAT = '%(asctime)s %(levelname)s %(name)s %(message)s'
TEXT_FORMAT_WITH_PID = '%(asctime)s %(levelname)s %(name)s[%(process)d] %(message)s'
FORMATS = ('text', 'json')

# What a request line carries besides ts, level, logger and message, in this
# order; records of `rhc.access` have these as attributes.
REQUEST_FIELDS = ('cid', 'request_id', 'trace_id', 'method', 'path', 'route', 'status',
                  'duration_ms', 'bytes_in', 'bytes_out', 'peer')


class Stamp:
    """Times as text, formatted at most once a millisecond (strftime once a second)."""

    __slots__ = ('pattern', 'convert', 'fraction', 'second', 'text', 'ms', 'last')

    def __init__(self, pattern, convert, fraction):
        self.pattern = pattern
        self.convert = convert
        self.fraction = fraction     # '%s' the seconds text, '%03d' the milliseconds
        self.second = self.ms = None
        self.text = self.last = ''

    def now(self):
        """The time now as text (the access log's path: no call through __call__)."""
        now = _time()
        if int(now * 1000) == self.ms:
            return self.last
        return self(now)

    def __call__(self, now):
        ms = int(now * 1000)
        if ms == self.ms:
            return self.last
        self.ms = ms
        second = int(now)
        if second != self.second:
            self.second = second
            self.text = time.strftime(self.pattern, self.convert(second))
        # The milliseconds as logging computes record.msecs.
        self.last = self.fraction % (self.text, int((now - second) * 1000))
        return self.last


def text_stamp():
    """Local time as logging's default asctime writes it: 2024-05-01 12:00:00,123."""
    return Stamp('%Y-%m-%d %H:%M:%S', time.localtime, '%s,%03d')


def json_stamp():
    """UTC in ISO 8601 with milliseconds: 2024-05-01T12:00:00.123Z."""
    return Stamp('%Y-%m-%dT%H:%M:%S', time.gmtime, '%s.%03dZ')


def _json_encoder():
    """A one-line, ASCII-only JSON encoder made once (json.dumps sets one up per call)."""
    make = getattr(json.encoder, 'c_make_encoder', None)
    if make is None:
        return json.JSONEncoder(default=str, check_circular=False).encode
    # Anything JSON cannot carry is written as its str(), rather than lost.
    encode = make(None, str, json.encoder.encode_basestring_ascii, None, ': ', ', ',
                  False, False, True)

    def dumps(value):
        return ''.join(encode(value, 0))
    return dumps


to_json = _json_encoder()


_string = json.encoder.encode_basestring_ascii


# JsonFormatter's line for a request record, as a %-format (to_json's separators).
_JSON_REQUEST_LINE = (
    '{"ts": "%s", "level": "INFO", "logger": %s, "message": %s, "cid": %d, "request_id": %s, '
    '"trace_id": %s, "method": %s, "path": %s, "route": %s, "status": %d, "duration_ms": %.3f, '
    '"bytes_in": %d, "bytes_out": %d, "peer": %s}')


def json_request_line(stamp, logger, message, values):
    """JsonFormatter's line for an INFO record of `logger` carrying `values` (REQUEST_FIELDS).

    `cid`, `status` and the byte counts are ints, `duration_ms` a float
    (written to the microsecond, as JsonFormatter writes `round(duration_ms, 3)`),
    `trace_id` and `peer` a str or None, the rest str: what the server gives.
    """
    cid, request_id, trace_id, method, path, route, status, duration_ms, bytes_in, bytes_out, \
        peer = values
    return _JSON_REQUEST_LINE % (
        stamp, _string(logger), _string(message), cid, _string(request_id),
        'null' if trace_id is None else _string(trace_id), _string(method), _string(path),
        _string(route), status, duration_ms, bytes_in, bytes_out,
        'null' if peer is None else _string(peer))


class TextFormatter(logging.Formatter):
    """`TIME LEVEL LOGGER MESSAGE`, as logging.basicConfig writes it, with a cheaper clock.

    `with_pid` writes `LOGGER[PID]`: under a master, several processes' lines mix.
    """

    def __init__(self, with_pid=False):
        super().__init__(TEXT_FORMAT_WITH_PID if with_pid else TEXT_FORMAT)
        self.stamp = text_stamp()

    def formatTime(self, record, datefmt=None):
        return self.stamp(record.created)


class JsonFormatter(logging.Formatter):
    """One JSON object a record: ts, level, logger, message, and a request's fields.

    The object is written with ASCII only, so control characters, quotes and
    non-ASCII text in a message are escaped and a record is always one line.
    A traceback goes in `exc_info`, a stack in `stack_info`.
    """

    def __init__(self):
        super().__init__()
        self.stamp = json_stamp()

    def format(self, record):
        document = {'ts': self.stamp(record.created), 'level': record.levelname,
                    'logger': record.name, 'message': record.getMessage()}
        fields = record.__dict__
        if 'cid' in fields:         # a request line
            for name in REQUEST_FIELDS:
                document[name] = fields.get(name)
        if record.exc_info:
            if not record.exc_text:
                record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            document['exc_info'] = record.exc_text
        if record.stack_info:
            document['stack_info'] = self.formatStack(record.stack_info)
        return to_json(document)


class BufferedHandler(logging.Handler):
    """Formats records into lines kept in memory, written as the module docstring says.

    `loop` is the rhc loop whose timer flushes; without one (or while it is
    not running) every line is written at once. Any thread may log: the
    lines are kept under the handler's lock, and the timer is armed through
    `call_soon_threadsafe`.
    """

    def __init__(self, stream=None, format='text', loop=None, interval=FLUSH_INTERVAL,
                 max_buffered=MAX_BUFFERED, with_pid=False):
        if format not in FORMATS:
            raise ValueError(f'log format {format!r}: expected one of {", ".join(FORMATS)}')
        super().__init__()
        self.stream = sys.stderr if stream is None else stream
        self.json = format == 'json'
        self.with_pid = with_pid
        self.own_formatter = JsonFormatter() if self.json else TextFormatter(with_pid)
        self.setFormatter(self.own_formatter)
        self.stamp = self.own_formatter.stamp.now     # the time now, as its lines write it
        self.loop = loop
        self.interval = interval
        self.max_buffered = max_buffered
        self.lines = []
        self.buffered = 0           # characters in self.lines
        self.armed = False          # a flush is scheduled on the loop
        _handlers.add(self)

    def bind(self, loop):
        """Flush on `loop`'s timer from now on (None: write every line at once)."""
        with self.lock:
            self._write()
            self.loop = loop
            self.armed = False

    def emit(self, record):
        try:
            line = self.format(record)
        except Exception:
            self.handleError(record)
            return
        self._add(line, record.levelno >= URGENT)

    # -- the fast path (see the module docstring for when it applies) ----------

    def add(self, line):
        """Buffer a line (without its newline) made as this handler's formatter would."""
        lock = self.lock
        lock.acquire()      # not `with`: this runs once a request
        try:
            # The usual case: a flush is already due on a running loop and there is room.
            if self.armed and self.buffered < self.max_buffered and self.loop.running:
                self.lines.append(line)
                self.buffered += len(line)
                return
        finally:
            lock.release()
        self._add(line, False)

    def text_prefix(self, logger):
        """What a text line of this handler has between its stamp and an INFO record's message."""
        if self.with_pid:
            logger = f'{logger}[{os.getpid()}]'
        return f' INFO {logger} '

    # -- buffering -------------------------------------------------------------

    def _add(self, line, urgent):
        with self.lock:
            self.lines.append(line)
            self.buffered += len(line)
            loop = self.loop
            if urgent or self.buffered > self.max_buffered or loop is None or not loop.running:
                self._write()
            elif not self.armed:
                self.armed = True
                loop.call_soon_threadsafe(self._arm, loop)

    def _arm(self, loop):
        loop.call_later(self.interval, self._tick)

    def _tick(self):
        with self.lock:
            self.armed = False
            self._write()

    def _write(self):
        """Write the waiting lines in one go (the lock is held)."""
        if not self.lines:
            return
        text = '\n'.join(self.lines) + '\n'
        self.lines.clear()
        self.buffered = 0
        try:
            self.stream.write(text)
            self.stream.flush()
        except (OSError, ValueError):
            pass    # a closed or broken stream: the lines are lost, as StreamHandler loses them

    def flush(self):
        with self.lock:
            self._write()

    def close(self):
        self.flush()
        _handlers.discard(self)
        super().close()

    def _after_fork(self):
        # Lines were written before the fork; the loop and any timer armed on it are the
        # parent's (rhc.loop forgets its default loop in a child too). Until `bind` names
        # the child's loop, its lines are written at once.
        self.lines.clear()
        self.buffered = 0
        self.armed = False
        self.loop = None


_handlers = weakref.WeakSet()


def flush():
    """Write every line rhc's handlers hold now (at a stop, before exec)."""
    for handler in list(_handlers):
        handler.flush()


def bind(loop):
    """Flush every rhc handler on `loop`'s timer: what a forked worker calls for its loop."""
    for handler in list(_handlers):
        handler.bind(loop)


def _after_fork_in_child():
    for handler in list(_handlers):
        handler._after_fork()


os.register_at_fork(before=flush, after_in_child=_after_fork_in_child)


def fast_handler(logger):
    """The BufferedHandler that is the only destination of `logger`'s INFO records, or None."""
    found = None
    current = logger
    while current is not None:
        if current.filters:
            return None
        handlers = current.handlers
        if handlers:
            if found is not None or len(handlers) > 1:
                return None
            found = handlers[0]
        if not current.propagate:
            break
        current = current.parent
    if type(found) is not BufferedHandler or found.filters or found.level > INFO \
            or found.formatter is not found.own_formatter:
        return None
    return found


def configure(level='INFO', format='text', stream=None, loop=None, with_pid=False):
    """Send every record to one BufferedHandler on the root logger; returns it.

    Like `logging.basicConfig`, this leaves a root logger that already has
    other handlers alone (and returns None); a BufferedHandler from an
    earlier call is replaced.
    """
    root = logging.getLogger()
    if any(type(h) is not BufferedHandler for h in root.handlers):
        return None
    for old in list(root.handlers):
        root.removeHandler(old)
        old.close()
    handler = BufferedHandler(stream, format, loop, with_pid=with_pid)
    root.addHandler(handler)
    root.setLevel(level.upper() if isinstance(level, str) else level)
    return handler
