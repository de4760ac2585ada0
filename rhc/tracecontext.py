"""W3C Trace Context: keep a caller's trace, or start one, and pass it on.

https://www.w3.org/TR/trace-context/ . Pure: strings in, strings out; no
clock, no I/O. The server builds one ``TraceContext`` per request with
``TraceContext.from_headers(request.headers)``; every outbound call made
while handling it adds ``context.outbound_headers()``.
"""
import contextvars
import os
import random
import re

VERSION = '00'
FLAG_SAMPLED = 0x01
FLAG_RANDOM = 0x02        # Trace Context Level 2: the trace id is random
KNOWN_FLAGS = FLAG_SAMPLED | FLAG_RANDOM

# W3C asks every vendor to pass on at least 512 characters of tracestate;
# past that it is cut by whole entries, the ones over 128 characters first.
MAX_TRACESTATE = 512
MAX_TRACESTATE_MEMBER = 128

# version "-" trace-id "-" parent-id "-" trace-flags, then for a future
# version only, "-" and fields we must not look at. Lower-case hex only.
_TRACEPARENT = re.compile(
    r'([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?', re.DOTALL)
_ZERO_TRACE_ID = '0' * 32
_ZERO_PARENT_ID = '0' * 16
_OWS = ' \t'
# tracestate is printable ASCII (RFC 9110 OWS may hold tabs); anything else
# would be forwarded into another service's request head, so it is dropped.
_NOT_TRACESTATE = re.compile(r'[^\t\x20-\x7e]')

# Ids need to be unique, not secret (they travel in headers and logs, and a
# caller may pick its own), and W3C allows pseudo-random ones: a Mersenne
# Twister draw costs a fraction of an os.urandom system call. The generator
# is private so a handler's random.seed() cannot make ids repeat, and it is
# reseeded in a forked child so --workers processes never share a sequence.
_random = random.Random()


# The request being handled now, which outbound calls take their trace (and
# X-Request-Id) from: the loop's `handling` around a plain handler and the
# callbacks of its calls (two attribute stores a request), and `current` in
# a coroutine handler's own context (its steps run later, from the loop).
# Anything with `outbound_fields()` will do; the server puts its Request here.
current = contextvars.ContextVar('rhc_current_request', default=None)


def handled_request(loop):
    """The request being handled right now on `loop`, or None."""
    return loop.handling or current.get()
if hasattr(os, 'register_at_fork'):
    os.register_at_fork(after_in_child=_random.seed)


def parse_traceparent(value):
    """(trace_id, parent_id, flags) from a traceparent value, or None for "start a new trace".

    Strict to the W3C grammar. Surrounding spaces and tabs (HTTP's OWS) are
    ignored. A version above 00 is read by its first four fields, as W3C asks.
    """
    if not isinstance(value, str):
        return None
    match = _TRACEPARENT.fullmatch(value.strip(_OWS))
    if match is None:
        return None
    version, trace_id, parent_id, flags, future = match.groups()
    if version == 'ff' or (version == VERSION and future is not None):
        return None
    if trace_id == _ZERO_TRACE_ID or parent_id == _ZERO_PARENT_ID:
        return None
    return trace_id, parent_id, int(flags, 16)


def bounded_tracestate(value):
    """The tracestate to pass on: as given, cut to MAX_TRACESTATE by whole entries, or None."""
    if not isinstance(value, str) or _NOT_TRACESTATE.search(value):
        return None
    value = value.strip(_OWS)
    if len(value) <= MAX_TRACESTATE:
        return value or None
    members = [member for member in (part.strip(_OWS) for part in value.split(',')) if member]
    size = sum(map(len, members)) + len(members) - 1
    for index in range(len(members) - 1, -1, -1):
        if size <= MAX_TRACESTATE:
            break
        if len(members[index]) > MAX_TRACESTATE_MEMBER:
            size -= len(members[index]) + 1
            members[index] = None
    kept = [member for member in members if member is not None]
    while kept and size > MAX_TRACESTATE:
        size -= len(kept.pop()) + 1
    return ','.join(kept) or None


# An all-zero id is invalid; `or 1` makes that 2**-128 (2**-64) draw a valid one.

def new_trace_id():
    """32 lower-case hex digits, random, never all zero."""
    return '%032x' % (_random.getrandbits(128) or 1)


def new_span_id():
    """16 lower-case hex digits, random, never all zero."""
    return '%016x' % (_random.getrandbits(64) or 1)


_FLAGS_HEX = tuple(f'{flags:02x}' for flags in range(256))


def outbound_fields(trace_id, flags, tracestate, request_id, skip):
    """The header lines of one outbound call of a trace: a fresh parent id each call.

    Every value is ASCII already: ids are hex, a tracestate kept is printable
    ASCII (bounded_tracestate), and so is a request id (the server checks it).
    """
    if not skip and not tracestate and request_id:     # the usual call: one format
        return (f'traceparent: {VERSION}-{trace_id}-{_random.getrandbits(64) or 1:016x}-'
                f'{_FLAGS_HEX[flags]}\r\nX-Request-Id: {request_id}\r\n').encode('ascii')
    fields = ''
    if 'traceparent' not in skip:
        fields = f'traceparent: {VERSION}-{trace_id}-{new_span_id()}-{_FLAGS_HEX[flags]}\r\n'
        if tracestate:
            fields += f'tracestate: {tracestate}\r\n'
    if request_id and 'x-request-id' not in skip:
        fields += f'X-Request-Id: {request_id}\r\n'
    return fields.encode('ascii')


class TraceContext:
    """The trace one request belongs to.

    ``parent_id`` is the caller's span id (None when the trace starts here);
    ``flags`` keeps the bits W3C defines (sampled, random) and clears the
    reserved ones, which W3C says vendors must set to zero.
    """

    __slots__ = ('trace_id', 'parent_id', 'flags', 'tracestate')

    def __init__(self, trace_id, parent_id=None, flags=FLAG_RANDOM, tracestate=None):
        self.trace_id = trace_id
        self.parent_id = parent_id
        self.flags = flags
        self.tracestate = tracestate

    @classmethod
    def new(cls):
        """A fresh trace: a random trace id, so the random flag is set; not sampled."""
        return cls(new_trace_id())

    @classmethod
    def from_headers(cls, headers, new_id=None):
        """The caller's trace if its traceparent is valid, else a new one (its tracestate dropped).

        `headers` is a dict with lower-case keys (rhc's Headers is one). A new
        trace gets `new_id` when one was drawn already.
        """
        value = dict.get(headers, 'traceparent')
        parsed = None if value is None else parse_traceparent(value)
        if parsed is None:      # the usual case for a request from outside: start a trace
            return cls(new_id or new_trace_id())
        trace_id, parent_id, flags = parsed
        return cls(trace_id, parent_id, flags & KNOWN_FLAGS,
                   bounded_tracestate(dict.get(headers, 'tracestate')))

    def outbound_headers(self):
        """Headers for one outbound call: same trace, a fresh parent id each call."""
        headers = {'traceparent': f'{VERSION}-{self.trace_id}-{new_span_id()}-{self.flags:02x}'}
        if self.tracestate:
            headers['tracestate'] = self.tracestate
        return headers

    def outbound_fields(self, request_id=None, skip=()):
        """`outbound_headers()` (and X-Request-Id) as header lines for a request head.

        `skip` holds the lower-case names the caller set itself: its own win.
        """
        return outbound_fields(self.trace_id, self.flags, self.tracestate, request_id, skip)

    def __eq__(self, other):
        if not isinstance(other, TraceContext):
            return NotImplemented
        return (self.trace_id, self.parent_id, self.flags, self.tracestate) == (
            other.trace_id, other.parent_id, other.flags, other.tracestate)

    __hash__ = None

    def __repr__(self):
        return (f'TraceContext(trace_id={self.trace_id!r}, parent_id={self.parent_id!r}, '
                f'flags=0x{self.flags:02x}, tracestate={self.tracestate!r})')
