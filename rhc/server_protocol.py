"""The protocol of one accepted HTTP connection: read, parse, dispatch, answer in order.

An `HTTPProtocol` only moves bytes between its transport and the sans-IO
parser, hands complete requests to `dispatch`, and writes the answers in
request order (one request at a time, so pipelined requests are answered in
turn). Its timeouts are one timer per connection, re-armed only when it
fires. What it needs of its server: `loop`, `router`, `limits`, `observer`,
`log_requests`, `stopping`, `keep_alive`, `held` and `connections`.
"""
import itertools
import logging
import os
import re
import urllib.parse

from rhc import dispatch, http, streamwriter
from rhc.http.writer import Clock, response_head
from rhc.logtext import loggable
from rhc.request import Request, render
from rhc.routing import METHOD_NOT_ALLOWED, BuiltinEndpoint

log = logging.getLogger('rhc.server')

# While a request is in flight, a client may pipeline this much before we
# stop reading from it (its requests wait in the parser's buffer).
MAX_PIPELINE_BUFFER = 256 * 1024
# Answers are gathered while pipelined requests are served, and handed to
# the transport in one write; past this much they go at once, so that the
# transport's water marks see them.
MAX_GATHERED = 64 * 1024
# After our last answer, how long to drain a client still sending (see
# Transport.close): long enough for an uploader to read its 413.
LINGER = 2.0
# Once the server stops accepting, an idle keep-alive connection is closed when
# it has been quiet this long: a client that has just had an answer may be
# sending its next request this very moment, and that one is better answered
# (with `Connection: close`) than lost to a close crossing it on the wire.
DRAIN_QUIET = 0.5
# A percent-decoded path may not hold these: `/admin%0A` is not `/admin`.
_CONTROL = re.compile('[\x00-\x1f\x7f]')

_REQUEST_PREFIX = os.urandom(4).hex()
_request_counter = itertools.count(1)


def request_id_for(headers):
    """The client's X-Request-Id when it is sane, else a new one."""
    given = dict.get(headers, 'x-request-id')     # keys are lower-case already
    if given and len(given) <= 128 and given.isascii() and given.isprintable() and ' ' not in given:
        return given
    return f'{_REQUEST_PREFIX}{next(_request_counter):08x}'


def run_endpoint(loop, request, endpoint, route, groups, check_auth=True):
    """Run the endpoint as the loop's work for `request`: the calls its handler makes
    (and their callbacks) carry this request's trace."""
    outer, loop.handling = loop.handling, request
    try:
        dispatch.run_endpoint(request, endpoint, route, groups, check_auth)
    finally:
        loop.handling = outer


class HTTPProtocol:
    """One accepted connection: read, parse, dispatch, write, in order."""

    __slots__ = ('server', 'loop', 'clock', 'transport', 'parser', 'id', 'peer', 'current',
                 'checked', 'closing', 'processing', 'paused', 'out', 'bytes_in', 'consumed',
                 'started', 'last_active', 'timer', 'watch_idle', 'linger')

    def __init__(self, server, conn_id, peer):
        self.server = server
        self.loop = server.loop
        self.clock = server.loop.time
        self.transport = None
        limits = server.limits
        self.parser = http.RequestParser(limits.max_request_line, limits.max_header,
                                         limits.max_header_fields, limits.max_body)
        self.id = conn_id
        self.peer = peer
        self.current = None         # the request being handled
        self.checked = None         # the request whose AUTH ran before its body came
        self.closing = False        # the last answer is written or being written
        self.linger = LINGER        # how long closing drains what the client still sends
        self.processing = False     # inside process(): answers are gathered, not sent
        self.paused = False         # the transport's buffer is full: the client is not reading
        self.out = bytearray()      # answers gathered while processing
        self.bytes_in = 0
        self.consumed = 0           # bytes_in that belonged to requests already parsed
        self.started = None         # when the request being received began
        self.last_active = 0.0
        self.timer = None
        # The timer is armed for the header timeout first; after an answer, the
        # idle deadline is later, unless idle_timeout is the shorter of the two.
        self.watch_idle = limits.idle_timeout < limits.header_timeout

    # -- what the transport calls ---------------------------------------------

    def connection_made(self, transport):
        self.transport = transport
        # A new connection owes us the head of its first request: the header
        # timeout applies from the start, so connecting and saying nothing is cut off.
        self.last_active = self.started = self.clock()
        self.timer = self.loop.call_later_coarse(self.server.limits.header_timeout,
                                                 self._check_timeout)

    def data_received(self, data):
        if self.closing:
            return      # answering an error or closing: what follows is not read
        self.last_active = now = self.clock()
        if self.started is None:
            self.started = now
        self.bytes_in += len(data)
        self.parser.feed(data)
        self.process()

    def eof_received(self):
        return False

    def connection_lost(self, exc):
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        self._abandon()
        self.server.connections.discard(self)

    def _abandon(self):
        """The client is gone (or the grace period is over): cancel what serves it."""
        current, self.current = self.current, None
        if current is not None and current.task is not None:
            current.task.cancel()

    def pause_writing(self):
        self.paused = True
        self.transport.pause_reading()

    def resume_writing(self):
        self.paused = False
        self._read_more()
        self.process()

    # -- requests ----------------------------------------------------------------

    def process(self):
        """Dispatch the buffered requests, one at a time, until one is delayed."""
        if self.processing:
            return
        self.processing = True
        parser = self.parser
        try:
            while self.current is None and not self.closing and not self.paused:
                try:
                    raw = parser.next_request()
                except http.ProtocolError as e:
                    self._reject(e)
                    break
                if raw is None:
                    if parser.expect_continue:
                        self._answer_expectation()
                    if not parser.in_progress:
                        self.started = None
                    break
                self._dispatch(raw)
                if len(self.out) > MAX_GATHERED:
                    self._flush()
        finally:
            self.processing = False
        self._flush()
        if self.current is None:
            if self.started is not None or self.watch_idle:
                self._watch()
        elif parser.buffered > MAX_PIPELINE_BUFFER:
            self.transport.pause_reading()

    def _dispatch(self, raw):
        parser = self.parser
        started = self.last_active if self.started is None else self.started
        self.started = self.clock() if parser.in_progress else None
        # What this request took on the wire (head and body): all bytes read,
        # less what the parser still holds, less the requests before it.
        consumed = self.bytes_in - parser.buffered
        request = self._request(raw, started, consumed - self.consumed)
        self.consumed = consumed
        self.current = request
        match = self._route(request, raw)
        if match is not None:
            endpoint, route, groups = match
            check_auth = True
            if self.checked is not None:    # AUTH ran before the body came (100-continue)
                check_auth, self.checked = self.checked is not raw, None
            if self.server.held is not None and type(endpoint) is not BuiltinEndpoint:
                # An `async def` SETUP is running: the request waits for it.
                return self.server.held.append((self, request, endpoint, route, groups,
                                                check_auth))
            loop = self.loop    # the calls the handler makes carry this request's trace
            outer, loop.handling = loop.handling, request
            try:
                dispatch.run_endpoint(request, endpoint, route, groups, check_auth)
            finally:
                loop.handling = outer

    def _request(self, raw, started, size=0):
        path = raw.path
        if '%' in path:
            path = urllib.parse.unquote(path)
        return Request(raw.method, path, raw.query_string, raw.headers, raw.body, self.id,
                       request_id_for(raw.headers), self.peer, raw.keep_alive, started,
                       self.send, raw.version, size)

    def _route(self, request, raw):
        """(endpoint, route, groups) for `request`, or None once it is answered."""
        path = request.path
        # The request line holds no control character: only decoding can make one.
        if '%' in raw.path and _CONTROL.search(path) is not None:
            request.respond(400, {'error': 'control character in path'})
            return None
        match = self.server.router.match(request.method, path)
        if match is None:
            request.respond(404, {'error': 'not found'})
        elif match[0] is METHOD_NOT_ALLOWED:
            request.respond(405, {'error': 'method not allowed'}, {'Allow': match[1]})
        else:
            request.endpoint = match[0]
            return match
        return None

    def _answer_expectation(self):
        """`Expect: 100-continue`: invite the body only if the request would be served.

        A request that finds no route or fails AUTH is answered now, and the
        connection closes, so the client never uploads a body we would drop.
        """
        self.parser.continue_sent()
        raw = self.parser.pending_request
        request = self._request(raw, self.last_active if self.started is None else self.started)
        request.keep_alive = False
        self.current = request
        match = self._route(request, raw)
        if match is not None and dispatch.authorized(request, match[0]):
            self.current = None
            self.checked = raw
            self.out += b'HTTP/1.1 100 Continue\r\n\r\n'
            return
        self.closing = True     # answered (or being answered): the body is not read

    def _reject(self, error):
        """Answer a protocol error and close: the stream can't be trusted after it."""
        self.closing = True
        body, content_type = render({'error': error.message})
        fields = b'Date: %s\r\nX-Request-Id: %s\r\nConnection: close\r\n' % (
            Clock.date(), request_id_for({}).encode())
        self.out += response_head(error.status, content_type, len(body), fields) + body
        log.info('conn=%s rejected: %s %s', self.id, error.status, loggable(error.message))

    # -- answers -----------------------------------------------------------------

    def send(self, request, status, body, content_type, headers, reason):
        """The `respond` of this connection's requests: write the answer, then go on."""
        if type(body) is not bytes:     # a Stream, EventStream or File (rhc/streamwriter.py)
            return streamwriter.answer(self, request, status, body, headers, reason)
        if request is self.current:
            self.current = None
        keep_alive = request.keep_alive and not self.closing and self.server.keep_alive
        try:
            head = streamwriter.response_head_for(request, status, content_type, headers, reason,
                                                  len(body), keep_alive)
        except ValueError as e:
            # Refuse to send CR/LF smuggled into the head by a handler.
            log.error('conn=%s request_id=%s refusing response headers: %s',
                      self.id, request.request_id, e)
            status = 500
            body, content_type = render({'error': 'internal server error'})
            head = streamwriter.response_head_for(request, status, content_type, None, None,
                                                  len(body), keep_alive)
        out = self.out
        out += head
        if body and request.method != 'HEAD' and 200 <= status != 204 and status != 304:
            out += body     # HEAD: GET's headers, Content-Length included, but no body
        else:
            body = b''
        if not keep_alive:
            self.closing = True
            if not request.keep_alive and not self.parser.buffered and not self.parser.in_progress:
                self.linger = 0.0   # the client said this was its last request, and sent no more
        if not self.processing:
            self.last_active = self.clock()     # a delayed answer; else it is fresh
        observer = self.server.observer
        if observer.recording:
            observer.finished(self, request, status, len(head) + len(body))
        if not self.processing:
            # A delayed answer: send it now, then serve what was pipelined behind it.
            self._flush()
            self._read_more()
            self.process()

    def streamed(self, keep_alive):
        """The streamed answer to `current` is written (rhc/streamwriter.py): go on."""
        self.current = None
        self.closing = self.closing or not keep_alive
        self.last_active = self.clock()
        if not self.processing:
            self._read_more()
            self.process()

    def _flush(self):
        out = self.out
        if out:
            self.transport.write(out)
            out.clear()
        if self.closing and self.current is None:
            self.transport.close(self.linger)

    def _read_more(self):
        """Read again, unless the client is not reading us or has pipelined enough."""
        if not self.paused and not self.closing and (
                self.current is None or self.parser.buffered <= MAX_PIPELINE_BUFFER):
            self.transport.resume_reading()

    # -- timeouts and shutdown ------------------------------------------------------

    def _watch(self):
        """Make sure the timer fires by the deadline the connection's state now sets.

        The timer is re-armed only when that deadline is earlier than the one
        it is set for (a request begins to trickle in, or the idle timeout is
        the shorter): usually it is later, and this costs a comparison.
        """
        due, _ = self._due()
        timer = self.timer
        if due is not None and (timer is None or timer.when > due) \
                and not self.transport.is_closing():
            if timer is not None:
                timer.cancel()
            self.timer = self.loop.call_later_coarse(max(0.0, due - self.clock()),
                                                     self._check_timeout)

    def _due(self):
        """(when this connection should be closed, why), or (None, None) while a handler runs."""
        limits = self.server.limits
        if self.current is not None:
            return None, None
        if self.transport.get_write_buffer_size():
            # A client that stopped reading its answers is as good as idle.
            return self.transport.progressed + limits.idle_timeout, 'not reading'
        if self.started is not None or self.parser.in_progress:
            began = self.last_active if self.started is None else self.started
            return began + limits.header_timeout, 'header timeout'
        if self.server.stopping:
            return self.last_active + DRAIN_QUIET, 'drained'
        return self.last_active + limits.idle_timeout, None

    def _check_timeout(self):
        self.timer = None
        if self.transport.is_closing():
            return
        now = self.clock()
        due, why = self._due()
        if due is None:
            due = now + self.server.limits.header_timeout    # look again later
        elif now >= due:
            if why == 'not reading':
                log.info('conn=%s not reading; closed after %.1fs', self.id,
                         now - self.transport.progressed)
            elif why == 'header timeout':
                log.info('conn=%s header timeout after %.1fs', self.id,
                         now - (self.last_active if self.started is None else self.started))
            return self.transport.abort()
        self.timer = self.loop.call_later_coarse(due - now, self._check_timeout)

    def drain(self):
        """The server stops accepting: close now if idle and quiet, else once it is.

        A busy connection answers what it serves with `Connection: close`.
        """
        if self.is_idle() and self.clock() - self.last_active >= DRAIN_QUIET:
            self.close()
        elif self.transport is not None:
            self._watch()

    def is_idle(self):
        return self.transport is None or self.transport.is_closing() or (
            self.current is None and not self.transport.get_write_buffer_size()
            and not self.parser.in_progress)

    def close(self):
        self._abandon()
        if self.transport is not None:
            self.transport.abort()
