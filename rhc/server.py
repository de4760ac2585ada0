"""HTTP listeners and the per-connection protocol.

A `Listener` accepts sockets for one SERVER; each accepted socket gets an
`HTTPConnection`, which only moves bytes between the socket and the sans-IO
parser, hands complete requests to `dispatch`, and writes responses in
order (one request at a time, so pipelined requests are answered in turn).
"""
import errno
import itertools
import logging
import os
import re
import socket
import time
import urllib.parse
from email.utils import formatdate
from http import HTTPStatus

from rhc import dispatch, http
from rhc.logtext import loggable
from rhc.routing import METHOD_NOT_ALLOWED
from rhc.request import JSON, OCTETS, TEXT, Request, render

log = logging.getLogger('rhc.server')
access_log = logging.getLogger('rhc.access')

BACKLOG = max(1024, socket.SOMAXCONN)
RECV_SIZE = 256 * 1024
ACCEPT_BATCH = 64
# While a request is in flight, a client may pipeline this much before we
# stop reading from it (its requests wait in the parser's buffer).
MAX_PIPELINE_BUFFER = 256 * 1024
# When this much of our answers waits unsent, the client is not reading them:
# stop serving (and reading) its pipelined requests until they drain.
MAX_OUT_BUFFER = 1024 * 1024
ACCEPT_RETRY = 0.25    # seconds to pause accepting when out of descriptors
# After our last answer on a connection we stop writing but keep reading (and
# dropping) what the client still sends, for this long: closing with its
# request bytes unread would send a reset that can destroy the answer (a 413
# to a client still uploading) before the client reads it.
LINGER = 2.0
OUT_OF_DESCRIPTORS = {errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM}

_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
# A percent-decoded path may not hold these: `/admin%0A` is not `/admin`.
_CONTROL = re.compile('[\x00-\x1f\x7f]')


def status_line(status, reason=None):
    if reason is None:
        try:
            reason = HTTPStatus(status).phrase
        except ValueError:
            reason = 'Unknown'
    return f'HTTP/1.1 {status} {reason}\r\n'.encode('latin-1')


class _Clock:
    """The Date header, formatted once a second."""
    second = 0
    value = b''

    @classmethod
    def date(cls):
        now = int(time.time())
        if now != cls.second:
            cls.second = now
            cls.value = formatdate(now, usegmt=True).encode()
        return cls.value


_REQUEST_PREFIX = os.urandom(4).hex()
_request_counter = itertools.count(1)


def request_id_for(headers):
    """The client's X-Request-Id when it is sane, else a new one."""
    given = dict.get(headers, 'x-request-id')     # keys are lower-case already
    if given and len(given) <= 128 and given.isascii() and given.isprintable() and ' ' not in given:
        return given
    return f'{_REQUEST_PREFIX}{next(_request_counter):08x}'


_HEADS = {}
_MAX_HEADS = 512


def _head_prefix(status, content_type, reason, no_body):
    """The status line and Content-Type of a response, up to `Content-Length: `.

    Built once per (status, content type) pair; responses differ after it.
    """
    key = (status, content_type, reason)
    head = _HEADS.get(key)
    if head is None:
        head = status_line(status, reason)
        if not no_body:
            if content_type:
                head += b'Content-Type: ' + content_type.encode('latin-1') + b'\r\n'
            head += b'Content-Length: '
        if len(_HEADS) < _MAX_HEADS:
            _HEADS[key] = head
    return head


class Limits:
    """Per-server limits (SPEC §5), overridable in config."""

    def __init__(self, max_request_line=http.MAX_REQUEST_LINE, max_header=http.MAX_HEADER,
                 max_header_fields=http.MAX_HEADER_FIELDS, max_body=http.MAX_BODY,
                 header_timeout=10.0, idle_timeout=60.0):
        self.max_request_line = max_request_line
        self.max_header = max_header
        self.max_header_fields = max_header_fields
        self.max_body = max_body
        self.header_timeout = header_timeout
        self.idle_timeout = idle_timeout


class HTTPConnection:
    """One accepted socket: read, parse, dispatch, write, in order."""

    __slots__ = ('listener', 'loop', 'sock', 'peer', 'id', 'parser', 'current',
                 'out', 'writing', 'closing', 'closed', 'paused', 'last_active',
                 'request_started', 'bytes_in', 'handshaking', 'in_process',
                 'linger_until', 'consumed', 'checked')

    def __init__(self, listener, sock, peer, conn_id):
        self.listener = listener
        self.loop = listener.loop
        self.sock = sock
        self.peer = peer
        self.id = conn_id
        limits = listener.limits
        self.parser = http.RequestParser(limits.max_request_line, limits.max_header,
                                         limits.max_header_fields, limits.max_body)
        self.current = None
        self.out = bytearray()
        self.writing = False
        self.closing = False
        self.closed = False
        self.paused = False
        self.in_process = False
        self.last_active = time.monotonic()
        # A new connection owes us the head of its first request: the header
        # timeout applies from the start, so connecting and saying nothing is cut off.
        self.request_started = self.last_active
        self.bytes_in = 0
        self.consumed = 0       # bytes_in that belonged to requests already parsed
        self.handshaking = False
        self.linger_until = None
        self.checked = None     # the request whose AUTH ran before its body came
        self.loop.add_reader(sock, self.on_readable)

    # -- reading ----------------------------------------------------------

    def on_readable(self):
        try:
            data = self.sock.recv(RECV_SIZE)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            return self.close()
        self.received(data)

    def received(self, data):
        """Bytes from the peer (b'' when it closed): parse them and serve."""
        if not data:
            return self.close()
        self.last_active = time.monotonic()
        if self.request_started is None:
            self.request_started = self.last_active
        if self.closing:
            return      # answering an error or closing: what follows is not read
        self.bytes_in += len(data)
        self.parser.feed(data)
        self.process()

    def process(self):
        """Dispatch the buffered requests, one at a time, until one is delayed."""
        if self.in_process:
            return
        self.in_process = True
        try:
            while self.current is None and not self.closing and not self.closed:
                if len(self.out) > MAX_OUT_BUFFER:
                    self.flush()
                    if self.writing:
                        self.pause()        # `_on_writable` resumes once drained
                        break
                    continue
                try:
                    raw = self.parser.next_request()
                except http.ProtocolError as e:
                    self._reject(e)
                    break
                if raw is None:
                    if self.parser.expect_continue:
                        self._answer_expectation()
                    if not self.parser.in_progress:
                        self.request_started = None
                    break
                self._dispatch(raw)
            if self.current is not None and self.parser.buffered > MAX_PIPELINE_BUFFER:
                self.pause()
        finally:
            self.in_process = False
        self.flush()

    def _dispatch(self, raw):
        started = self.request_started or self.last_active
        self.request_started = time.monotonic() if self.parser.in_progress else None
        request = self._request(raw, started)
        # What this request took on the wire (head and body): all bytes read,
        # less what the parser still holds, less the requests before it.
        consumed = self.bytes_in - self.parser.buffered
        request.bytes_in = consumed - self.consumed
        self.consumed = consumed
        self.current = request
        match = self._route(request)
        if match is not None:
            endpoint, route, groups = match
            checked, self.checked = self.checked is raw, None
            dispatch.run_endpoint(request, endpoint, route, groups, check_auth=not checked)

    def _request(self, raw, started):
        path = raw.path
        if '%' in path:
            path = urllib.parse.unquote(path)
        request = Request(raw.method, path, raw.query_string, raw.headers, raw.body,
                          self.id, request_id_for(raw.headers), self.peer,
                          raw.keep_alive, started, self.send)
        request.version = raw.version
        return request

    def _route(self, request):
        """(endpoint, route, groups) for `request`, or None once it is answered."""
        path = request.path
        if _CONTROL.search(path) is not None:
            request.respond(400, {'error': 'control character in path'})
            return None
        match = self.listener.router.match(request.method, path)
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
        request = self._request(raw, self.request_started or self.last_active)
        request.keep_alive = False
        self.current = request
        match = self._route(request)
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
        self._write_response(None, error.status, body, content_type, b'', None, False,
                             request_id_for({}))
        log.info('conn=%s rejected: %s %s', self.id, error.status, loggable(error.message))

    # -- writing ----------------------------------------------------------

    def send(self, request, status, body, content_type, headers, reason):
        """The `respond` of this connection's requests; writes in request order."""
        if self.closed:
            return
        keep_alive = request.keep_alive and not self.closing and not self.listener.stopping
        try:
            extra = b''
            if headers:
                given_type, extra = _header_lines(headers)
                if given_type is not None:
                    content_type = given_type
            if reason is not None:
                _check_text('reason', reason)
            if content_type is not None and content_type not in _RENDERED_TYPES:
                _check_text('Content-Type', content_type)
        except ValueError as e:
            # Refuse to send CR/LF smuggled into a header by a handler.
            log.error('conn=%s request_id=%s refusing response headers: %s',
                      self.id, request.request_id, e)
            status, extra, reason = 500, b'', None
            body, content_type = render({'error': 'internal server error'})
        if request.method == 'HEAD':
            # HEAD answers with GET's headers, Content-Length included, but no body.
            length = len(body)
            body = b''
        else:
            length = None
        out = self._write_response(request, status, body, content_type, extra, reason,
                                   keep_alive, request.request_id, length)
        if not keep_alive:
            self.closing = True
        if self.listener.log_requests and not (request.endpoint and request.endpoint.silent
                                               and status < 400):
            if access_log.isEnabledFor(logging.INFO):
                access_log.info('conn=%s request_id=%s %s %s %s %.2fms in=%d out=%d',
                                self.id, request.request_id, request.method,
                                loggable(request.path),
                                status, (time.monotonic() - request.started) * 1000,
                                request.bytes_in, out)
        if request is self.current:
            self.current = None
        if not self.in_process:
            # A delayed answer: send it now, then serve what was pipelined behind it.
            self.flush()
            if self.paused:
                self.resume()
            if not self.closed:
                self.process()

    def _write_response(self, request, status, body, content_type, extra, reason,
                        keep_alive, request_id, length=None):
        """Queue one response (head and body in one buffer: one send, no Nagle stall)."""
        no_body = status < 200 or status == 204 or status == 304
        head = _head_prefix(status, content_type, reason, no_body)
        if not no_body:
            head += b'%d\r\n' % (len(body) if length is None else length)
        if not keep_alive:
            extra += b'Connection: close\r\n'
        elif request is not None and request.version == 'HTTP/1.0':
            extra += b'Connection: keep-alive\r\n'
        out = self.out
        before = len(out)
        out += b'%sDate: %s\r\nX-Request-Id: %s\r\n%s\r\n' % (
            head, _Clock.date(), request_id.encode('latin-1'), extra)
        if body and not no_body:
            out += body
        return len(out) - before

    def flush(self):
        if self.writing or self.closed:
            return
        out = self.out
        if out:
            sent = self.send_some(out)
            if sent is None:
                return self.close()
            if sent < len(out):
                self.last_active = time.monotonic()     # progress, for the stalled-reader timeout
                del out[:sent]
                self.writing = True
                self.loop.add_writer(self.sock, self._on_writable)
                return
            out.clear()
        if self.closing and self.current is None:
            self.linger()

    def send_some(self, data):
        """Bytes the socket took now (0 if none), or None when it is broken."""
        try:
            return self.sock.send(data)
        except (BlockingIOError, InterruptedError):
            return 0
        except OSError:
            return None

    def _on_writable(self):
        self.writing = False
        self.loop.remove_writer(self.sock)
        self.flush()
        if self.paused and not self.writing and self.current is None and not self.closed:
            # Paused because the answers piled up unread: they have drained.
            self.resume()
            self.process()

    # -- flow control and lifecycle ---------------------------------------

    def pause(self):
        self.paused = True
        self.loop.remove_reader(self.sock)

    def resume(self):
        self.paused = False
        if not self.closed:
            self.loop.add_reader(self.sock, self.on_readable)

    def linger(self):
        """Stop writing, drain the client for up to LINGER seconds, then close."""
        if self.closed or self.linger_until is not None:
            return
        try:
            self.sock.shutdown(socket.SHUT_WR)
        except OSError:
            return self.close()
        self.linger_until = time.monotonic() + LINGER
        # Reading goes on (a paused reader resumes): `received` drops what a
        # closing connection gets, and closes at the client's EOF.
        self.loop.add_reader(self.sock, self.on_readable)

    def is_idle(self):
        return self.linger_until is not None or (
            self.current is None and not self.out and not self.parser.in_progress)

    def check_timeouts(self, now, limits):
        if self.linger_until is not None:
            if now > self.linger_until:
                self.close()
            return
        if self.current is not None:
            return
        if self.out:
            # A client that stopped reading its answers is as good as idle.
            if now - self.last_active > limits.idle_timeout:
                log.info('conn=%s not reading; closed after %.1fs', self.id, now - self.last_active)
                self.close()
            return
        if self.request_started is not None or self.parser.in_progress or self.handshaking:
            started = self.request_started or self.last_active
            if now - started > limits.header_timeout:
                log.info('conn=%s header timeout after %.1fs', self.id, now - started)
                self.close()
        elif now - self.last_active > limits.idle_timeout:
            self.close()

    def close(self):
        if self.closed:
            return
        self.closed = True
        self.loop.forget(self.sock)
        try:
            self.sock.close()
        except OSError:
            pass
        self.listener.connections.discard(self)


_RENDERED_TYPES = frozenset((JSON, TEXT, OCTETS))


def _check_text(what, value):
    """Refuse text that would break out of its line in a response head."""
    if '\r' in value or '\n' in value or '\0' in value:
        raise ValueError(f'CR, LF or NUL in {what} {value!r}')
    value.encode('latin-1')     # UnicodeEncodeError is a ValueError


def _header_lines(headers):
    """(Content-Type given or None, the other header lines as bytes).

    A handler's Content-Type replaces the default one instead of doubling it;
    its Content-Length is dropped, since the framing is ours to get right.
    """
    items = headers.items() if hasattr(headers, 'items') else headers
    lines = []
    content_type = None
    for name, value in items:
        name = str(name)
        value = str(value)
        if not _TOKEN.fullmatch(name):
            raise ValueError(f'bad header name {name!r}')
        _check_text(f'header {name}', value)
        lower = name.lower()
        if lower == 'content-type':
            content_type = value
        elif lower != 'content-length':
            lines.append(f'{name}: {value}\r\n')
    return content_type, ''.join(lines).encode('latin-1')


class Listener:
    """One SERVER: a listening socket and the connections it accepted."""

    def __init__(self, loop, name, router, host='0.0.0.0', port=0, limits=None,
                 ssl_context=None, reuse_port=False, log_requests=True):
        self.loop = loop
        self.name = name
        self.router = router
        self.host = host
        self.limits = limits or Limits()
        self.ssl_context = ssl_context
        self.connection_class = HTTPConnection
        if ssl_context is not None:
            from rhc.tls import TLSConnection     # ssl is imported only when used
            self.connection_class = TLSConnection
        self.log_requests = log_requests
        self.connections = set()
        self.stopping = False
        self._ids = itertools.count(1)
        self._accept_paused = None
        self._sweeper = None
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if reuse_port:
                self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            self.sock.bind((host, port))
            self.sock.listen(BACKLOG)
        except OSError:
            self.sock.close()
            raise
        self.sock.setblocking(False)
        self.port = self.sock.getsockname()[1]

    def start(self):
        self.loop.add_reader(self.sock, self._accept)
        self._schedule_sweep()

    def _accept(self):
        for _ in range(ACCEPT_BATCH):
            try:
                sock, peer = self.sock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as e:
                if e.errno in OUT_OF_DESCRIPTORS:
                    self._pause_accepting(e)
                    return
                if e.errno == errno.ECONNABORTED:
                    continue
                log.warning('server %s: accept failed: %s', self.name, e)
                return
            sock.setblocking(False)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if self.ssl_context is not None:
                try:
                    sock = self.ssl_context.wrap_socket(sock, server_side=True,
                                                        do_handshake_on_connect=False)
                except OSError:
                    sock.close()
                    continue
            self.connections.add(self.connection_class(self, sock, peer, next(self._ids)))

    def _pause_accepting(self, error):
        # Out of descriptors the listener stays readable; stop watching it for a
        # while instead of spinning, and let finished connections free some.
        if self._accept_paused is None:
            log.warning('server %s: %s; pausing accept for %.2fs', self.name,
                        os.strerror(error.errno), ACCEPT_RETRY)
        self.loop.remove_reader(self.sock)
        self._accept_paused = self.loop.call_later(ACCEPT_RETRY, self._resume_accepting)

    def _resume_accepting(self):
        self._accept_paused = None
        if not self.stopping:
            self.loop.add_reader(self.sock, self._accept)

    def _schedule_sweep(self):
        limits = self.limits
        interval = max(0.05, min(1.0, limits.header_timeout / 4, limits.idle_timeout / 4))
        self._sweeper = self.loop.call_later(interval, self._sweep)

    def _sweep(self):
        now = time.monotonic()
        for connection in list(self.connections):
            connection.check_timeouts(now, self.limits)
        self._schedule_sweep()

    def stop_accepting(self):
        """Close the listening socket; connections in flight go on."""
        if self.stopping:
            return
        self.stopping = True
        if self._accept_paused is not None:
            self._accept_paused.cancel()
        self.loop.forget(self.sock)
        self.sock.close()
        for connection in list(self.connections):
            # Busy ones answer what they are serving with Connection: close.
            if connection.is_idle():
                connection.close()

    @property
    def busy(self):
        return any(not c.is_idle() for c in self.connections)

    def close(self):
        """Stop everything now: listener, timers, every connection."""
        self.stop_accepting()
        if self._sweeper is not None:
            self._sweeper.cancel()
        for connection in list(self.connections):
            connection.close()
