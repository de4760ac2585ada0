"""The async HTTP client, on the same loop and the same parser as the server.

`Connection(url)` holds what every call to one service shares: the parsed
url, the resolved addresses (looked up once), default options, and a pool
of idle keep-alive sockets. Each call is an `Exchange` that borrows or opens
a socket, sends one request, and reports `(0, result)` or `(1, CallError)`
to its callback exactly once.
"""
import collections
import errno
import functools
import ipaddress
import json
import logging
import os
import socket
import threading
import time
import urllib.parse

from rhc import http
from rhc.errors import CallError
from rhc.loop import get_loop
from rhc.response import Response, decode_body, result_of

log = logging.getLogger('rhc.client')

RECV_SIZE = 256 * 1024
MAX_IDLE_PER_CONNECTION = 32
JSON = 'application/json; charset=utf-8'
FORM = 'application/x-www-form-urlencoded'
CONNECT_IN_PROGRESS = {errno.EINPROGRESS, errno.EWOULDBLOCK, errno.EALREADY}
# Sent again on a fresh socket when a pooled one turns out dead: sending these
# twice does no harm. Anything else is sent at most once.
IDEMPOTENT = frozenset(('GET', 'HEAD', 'PUT', 'DELETE', 'OPTIONS'))
CALL_OPTIONS = ('is_json', 'is_form', 'timeout', 'wrapper', 'setup', 'handler', 'full')


def _is_ip(host):
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        return False


def resolve(host, port):
    """getaddrinfo for a TCP connection: [(family, sockaddr), ...]."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [(family, sockaddr) for family, _, _, _, sockaddr in infos]


def encode_body(body, is_form):
    """(bytes, content type) for a call's body."""
    if body is None:
        return b'', None
    if isinstance(body, (bytes, bytearray)):
        return bytes(body), None
    if isinstance(body, str):
        return body.encode(), 'text/plain; charset=utf-8'
    if is_form and isinstance(body, dict):
        return urllib.parse.urlencode(body).encode(), FORM
    return json.dumps(body).encode(), JSON


class Connection:
    """An outbound HTTP API: `get/post/put/patch/delete` return partials."""

    def __init__(self, url, is_json=True, is_form=False, timeout=5.0, headers=None,
                 wrapper=None, setup=None, handler=None, ssl_context=None,
                 max_body=http.MAX_BODY, loop=None):
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ('http', 'https') or not parts.hostname:
            raise ValueError(f"expected an http:// or https:// url, got '{url}'")
        self.url = url
        self.is_ssl = parts.scheme == 'https'
        self.host = parts.hostname
        self.port = parts.port or (443 if self.is_ssl else 80)
        self.base_path = parts.path.rstrip('/')
        default_port = 443 if self.is_ssl else 80
        host = f'[{self.host}]' if ':' in self.host else self.host
        self.host_header = host if self.port == default_port else f'{host}:{self.port}'
        self.is_json = is_json
        self.is_form = is_form
        self.timeout = timeout
        self.headers = dict(headers or {})
        self.wrapper = wrapper
        self.setup = setup
        self.handler = handler
        self.max_body = max_body
        self.loop = loop
        # An http:// url is plain TCP, whatever context was passed along;
        # ssl itself is imported only for https (it costs about 4 MiB).
        self.ssl_context = None
        if self.is_ssl:
            from rhc.tls import client_context
            self.ssl_context = ssl_context or client_context()
        self.addresses = None
        if _is_ip(self.host):
            family = socket.AF_INET6 if ':' in self.host else socket.AF_INET
            self.addresses = [(family, (self.host, self.port))]
        self._resolving = None
        self.idle = collections.deque()
        self.connects = 0          # sockets opened, for the curious (and the tests)

    def __repr__(self):
        return f'<Connection {self.url}>'

    # -- the public calls --------------------------------------------------

    def request(self, method, path='', body=None, headers=None, **kwargs):
        """A partial: `partial(callback)` starts the call and returns its handle.

        `full=True` makes the result an `rhc.Response`, whatever the status.
        """
        options = {key: kwargs.pop(key) for key in CALL_OPTIONS if key in kwargs}
        if body is None and kwargs:
            body = kwargs
        return functools.partial(self._start, method.upper(), path, body, headers, options)

    def get(self, path='', body=None, headers=None, **kwargs):
        return self.request('GET', path, body, headers, **kwargs)

    def post(self, path='', body=None, headers=None, **kwargs):
        return self.request('POST', path, body, headers, **kwargs)

    def put(self, path='', body=None, headers=None, **kwargs):
        return self.request('PUT', path, body, headers, **kwargs)

    def patch(self, path='', body=None, headers=None, **kwargs):
        return self.request('PATCH', path, body, headers, **kwargs)

    def delete(self, path='', body=None, headers=None, **kwargs):
        return self.request('DELETE', path, body, headers, **kwargs)

    def close(self):
        """Close the idle sockets of the pool."""
        while self.idle:
            self.idle.pop().close()

    # -- machinery ----------------------------------------------------------

    def _loop(self):
        return self.loop or get_loop()

    def _start(self, method, path, body, headers, options, callback):
        option = options.get
        is_json = option('is_json', self.is_json)
        is_form = option('is_form', self.is_form)
        setup = option('setup', self.setup)
        all_headers = dict(self.headers)
        if headers:
            all_headers.update(headers)
        data, content_type = encode_body(body, is_form)
        if content_type and not any(k.lower() == 'content-type' for k in all_headers):
            all_headers['Content-Type'] = content_type
        target = self.base_path + path
        if not target.startswith('/'):
            target = '/' + target
        if setup is not None:
            target, all_headers, data = setup(target, all_headers, data)
        exchange = Exchange(self, callback, method, target, all_headers, data, is_json,
                            option('timeout', self.timeout), option('wrapper', self.wrapper),
                            option('handler', self.handler), option('full', False))
        if self.addresses is None:
            self._resolve_then(exchange.start)
        else:
            exchange.start()
        return exchange

    def _resolve_then(self, start):
        """Resolve the host once, off the loop's thread, then start."""
        if self._resolving is not None:
            self._resolving.append(start)
            return
        self._resolving = [start]
        loop = self._loop()

        def done(addresses, error):
            waiting, self._resolving = self._resolving, None
            if error is None:
                self.addresses = addresses
            for fn in waiting:
                fn(error)

        def lookup():
            try:
                result = resolve(self.host, self.port), None
            except OSError as e:
                result = None, CallError(f'cannot resolve {self.host}: {e}')
            loop.call_soon_threadsafe(done, *result)

        threading.Thread(target=lookup, name=f'rhc-resolve-{self.host}', daemon=True).start()

    def take_idle(self):
        while self.idle:
            sock = self.idle.pop()
            if sock.usable():
                return sock
            sock.close()
        return None

    def give_back(self, sock):
        if len(self.idle) < MAX_IDLE_PER_CONNECTION:
            self.idle.append(sock)
            sock.park()
        else:
            sock.close()

    def forget(self, sock):
        try:
            self.idle.remove(sock)
        except ValueError:
            pass


class ClientSocket:
    """One TCP (or TLS) connection to the service, reused between calls."""

    def __init__(self, connection, loop):
        self.connection = connection
        self.loop = loop
        self.sock = None
        self.parser = http.ResponseParser(max_body=connection.max_body)
        self.closed = False
        self.exchange = None

    def usable(self):
        return not self.closed and self.sock is not None

    def park(self):
        """Idle in the pool: a readable socket now means the peer closed it."""
        self.exchange = None
        self.loop.remove_writer(self.sock)
        self.loop.add_reader(self.sock, self._on_idle_readable)

    def _on_idle_readable(self):
        self.connection.forget(self)
        self.close()

    def recv_some(self):
        """Bytes received (b'' at EOF), or None when none are ready; OSError when broken."""
        try:
            return self.sock.recv(RECV_SIZE)
        except (BlockingIOError, InterruptedError):
            return None

    def send_some(self, data):
        """Bytes the socket took now (0 if none); OSError when broken."""
        try:
            return self.sock.send(data)
        except (BlockingIOError, InterruptedError):
            return 0

    def close(self):
        if self.closed:
            return
        self.closed = True
        if self.sock is not None:
            self.loop.forget(self.sock)
            try:
                self.sock.close()
            except OSError:
                pass


class Exchange:
    """One call: connect (or reuse), send, receive, report once."""

    def __init__(self, connection, callback, method, target, headers, body, is_json,
                 timeout, wrapper, handler, full=False):
        self.connection = connection
        self.loop = connection._loop()
        self.callback = callback
        self.method = method
        self.target = target
        self.headers = headers
        self.body = body
        self.is_json = is_json
        self.timeout = timeout
        self.wrapper = wrapper
        self.handler = handler
        self.full = full
        self.done = False
        self.client = None
        self.reused = False
        self.received = 0
        self.written = 0        # bytes of this request the current socket took
        self.out = b''
        self.timer = None
        self.last_active = 0.0
        self.addresses = []

    # -- lifecycle ---------------------------------------------------------

    def start(self, error=None):
        if self.done:       # cancelled while the host was being resolved
            return
        if error is not None:
            return self.finish(1, error)
        self.last_active = time.monotonic()
        if self.timeout:
            self.timer = self.loop.call_later(self.timeout, self._on_timer)
        try:
            self.out = self._request_bytes()
        except ValueError as e:
            return self.finish(1, CallError(f'bad request: {e}'))
        client = self.connection.take_idle()
        if client is not None:
            self.reused = True
            self._use(client)
            self._send()
        else:
            self._open()

    def _request_bytes(self):
        headers = [('Host', self.connection.host_header), ('User-Agent', 'rhc')]
        headers.extend((str(k), str(v)) for k, v in self.headers.items())
        if self.body or self.method in ('POST', 'PUT', 'PATCH'):
            headers.append(('Content-Length', str(len(self.body))))
        return http.request_bytes(self.method, self.target, headers, self.body)

    def _use(self, client):
        self.client = client
        client.exchange = self
        client.parser.expect(self.method)
        self.loop.add_reader(client.sock, self._on_readable)

    def _open(self, addresses=None):
        connection = self.connection
        self.addresses = list(connection.addresses) if addresses is None else addresses
        client = ClientSocket(connection, self.loop)
        family, address = self.addresses.pop(0)
        try:
            sock = socket.socket(family, socket.SOCK_STREAM)
        except OSError as e:
            return self.finish(1, CallError(f'cannot open a socket: {e.strerror}'))
        sock.setblocking(False)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        client.sock = sock
        connection.connects += 1
        self.client = client
        client.exchange = self
        err = sock.connect_ex(address)
        if err and err not in CONNECT_IN_PROGRESS:
            return self._connect_failed(err)
        self.loop.add_writer(sock, self._on_connected)

    def _on_connected(self):
        sock = self.client.sock
        self.loop.remove_writer(sock)
        err = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if err:
            return self._connect_failed(err)
        self._touch()
        if self.connection.ssl_context is not None:
            from rhc.tls import TLSClientSocket
            try:
                self.client = TLSClientSocket.wrap(self.client, self.connection.ssl_context,
                                                   self.connection.host)
            except OSError as e:
                return self.fail(f'ssl error: {e}')
            return self._handshake()
        self._ready()

    def _connect_failed(self, err):
        self.client.close()
        if self.addresses:
            return self._open(self.addresses)
        reason = 'connection refused' if err == errno.ECONNREFUSED else f'cannot connect: {os.strerror(err)}'
        self.finish(1, CallError(reason))

    def _handshake(self):
        sock = self.client.sock
        try:
            waiting_for = self.client.handshake()
        except OSError as e:
            return self.fail(f'ssl error: {getattr(e, "reason", None) or e}')
        if waiting_for == 'read':
            self.loop.remove_writer(sock)
            self.loop.add_reader(sock, self._handshake)
        elif waiting_for == 'write':
            self.loop.remove_reader(sock)
            self.loop.add_writer(sock, self._handshake)
        else:
            self.loop.remove_writer(sock)
            self.loop.remove_reader(sock)
            self._ready()

    def _ready(self):
        self._use(self.client)
        self._send()

    def _send(self):
        sock = self.client.sock
        try:
            sent = self.client.send_some(self.out)
        except OSError as e:
            return self._broken(f'send failed: {e}')
        self.written += sent
        self.out = self.out[sent:]
        if self.out:
            self.loop.add_writer(sock, self._send)
        else:
            self.loop.remove_writer(sock)
        self._touch()

    def _on_readable(self):
        client = self.client
        try:
            data = client.recv_some()
        except OSError as e:
            return self._broken(f'connection reset: {e}')
        if data is None:
            return
        self._touch()
        parser = client.parser
        if data:
            self.received += len(data)
            parser.feed(data)
        else:
            parser.feed_eof()
        try:
            response = parser.next_response()
        except http.ProtocolError as e:
            if not data:
                return self._broken(e.message)
            return self.fail(f'malformed response: {e.message}')
        if response is None:
            if not data:
                return self._broken('connection closed mid-response')
            return
        self._complete(response)

    def _broken(self, reason):
        """The socket failed. A reused one that never answered is retried once on
        a fresh socket, if sending the request again is safe: the method is
        idempotent, or not one byte of it was written."""
        if self.reused and self.received == 0 and not self.done and (
                self.method in IDEMPOTENT or self.written == 0):
            self.client.close()
            self.reused = False
            self.written = 0
            self.out = self._request_bytes()
            if self.connection.addresses:
                return self._open()
        self.fail(reason)

    def _complete(self, response):
        client = self.client
        if response.keep_alive and not self.done:
            self.client = None
            self.connection.give_back(client)
        else:
            client.close()
        try:
            result = self.evaluate(response)
        except CallError as e:
            return self.finish(1, e)
        except Exception as e:
            log.exception('evaluating the response of %s %s failed', self.method, self.target)
            return self.finish(1, CallError(f'{type(e).__name__}: {e}'))
        self.finish(0, result)

    def evaluate(self, response):
        """The result of a response: a custom `handler`, the whole answer when
        `full`, else a 2xx body decoded as asked (anything else is a CallError)."""
        if self.handler is not None:
            return self.handler(response)
        headers = response.headers
        body = decode_body(response.body, headers.get('content-encoding'),
                           self.connection.max_body)
        if self.full:
            return Response(response.status, response.reason, headers, body)
        content_type = headers.get('content-type')
        if not 200 <= response.status < 300:
            try:
                detail = result_of(body, content_type, self.is_json)
            except CallError:
                detail = body.decode('utf-8', 'replace')
            text = body.decode('utf-8', 'replace')
            raise CallError(f'{response.status} {response.reason}' + (f': {text[:500]}' if text else ''),
                            status=response.status, body=detail)
        try:
            result = result_of(body, content_type, self.is_json)
        except CallError as e:
            e.status = response.status
            e.body = body
            raise
        if self.wrapper is not None and result is not None:
            result = self.wrapper(result)
        return result

    def _touch(self):
        self.last_active = time.monotonic()

    def _on_timer(self):
        if self.done:
            return
        idle = time.monotonic() - self.last_active
        if idle < self.timeout:
            self.timer = self.loop.call_later(self.timeout - idle, self._on_timer)
            return
        self.fail('timeout')

    def fail(self, reason):
        if self.client is not None:
            self.client.close()
            self.client = None
        self.finish(1, CallError(reason))

    def cancel(self):
        """Give up on the call: its socket closes and its callback never runs."""
        if self.done:
            return
        self.callback = None
        self.finish(1, None)

    def finish(self, rc, result):
        if self.done:
            return
        self.done = True
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        if rc and self.client is not None:
            self.client.close()
            self.client = None
        callback, self.callback = self.callback, None
        if callback is not None:
            callback(rc, result)


def connect(callback, url, method='GET', body=None, headers=None, is_json=True,
            timeout=5.0, **kwargs):
    """One call to a full url; `callback(rc, result)` when it completes."""
    parts = urllib.parse.urlsplit(url)
    base = urllib.parse.urlunsplit((parts.scheme, parts.netloc, '', '', ''))
    target = urllib.parse.urlunsplit(('', '', parts.path or '/', parts.query, ''))
    connection = Connection(base, is_json=is_json, timeout=timeout)

    def done(rc, result):
        connection.close()
        callback(rc, result)
    return connection.request(method, target, body, headers, **kwargs)(done)
