"""The async HTTP client, on the same loop and the same parser as the server.

`Connection(url)` holds what every call to one service shares: the parsed
url, the resolved addresses (looked up once), default options, and a pool
of idle keep-alive connections. Each call is an `Exchange` (rhc/exchange.py)
that borrows or opens a connection, sends one request, and reports
`(0, result)` or `(1, CallError)` to its callback exactly once.
"""
import ipaddress
import json
import socket
import threading
import urllib.parse

from rhc import http
from rhc.calls import Call
from rhc.download import BodyStream, Receiver
from rhc.errors import CallError
from rhc.eventsource import EventSource
from rhc.exchange import Exchange
from rhc.loop import get_loop
from rhc.pool import IDLE_TIMEOUT, MAX_IDLE, Pool
from rhc.tracecontext import handled_request
from rhc.transport import Transport

JSON = 'application/json; charset=utf-8'
FORM = 'application/x-www-form-urlencoded'
_WITH_BODY = frozenset(('POST', 'PUT', 'PATCH'))     # a Content-Length even when empty
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
                 max_body=http.MAX_BODY, loop=None, max_idle=MAX_IDLE,
                 idle_timeout=IDLE_TIMEOUT, trace=True):
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
        # False: calls never carry the served request's traceparent, tracestate or
        # X-Request-Id (a third party's API need not learn them).
        self.trace = trace
        host = self.host_header
        host = host.encode('ascii') if host.isascii() else host.encode('idna')
        self._host_fields = b'Host: %s\r\nUser-Agent: rhc\r\n' % host
        self._fields_of = None          # the headers _fields was made from
        self._fields = b''
        self._default_names = frozenset()
        self.wrapper = wrapper
        self.setup = setup
        self.handler = handler
        self.max_body = max_body
        self.loop = loop
        # An http:// url is plain TCP, whatever context was passed along;
        # ssl itself is imported only for https (it costs about 4 MiB).
        self.make_transport = Transport
        if self.is_ssl:
            from rhc.tls import client_context, client_transports
            self.make_transport = client_transports(ssl_context or client_context(), self.host)
        self.addresses = None
        if _is_ip(self.host):
            family = socket.AF_INET6 if ':' in self.host else socket.AF_INET
            self.addresses = [(family, (self.host, self.port))]
        self._resolving = None
        self.idle = Pool(self._loop, max_idle, idle_timeout)
        self.connects = 0          # connections opened, for the curious (and the tests)

    def __repr__(self):
        return f'<Connection {self.url}>'

    # -- the public calls --------------------------------------------------

    def request(self, method, path='', body=None, headers=None, **kwargs):
        """A partial (an `rhc.Call`): `partial(callback)` starts the call and returns
        its handle; `await partial` in a coroutine returns the result or raises.

        `full=True` makes the result an `rhc.Response`, whatever the status.
        """
        options = None
        if kwargs:
            options = {key: kwargs.pop(key) for key in CALL_OPTIONS if key in kwargs}
            if body is None and kwargs:
                body = kwargs
        return Call(self._start, method.upper(), path, body, headers, options)

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

    def stream(self, method, path='', body=None, headers=None, timeout=None, **kwargs):
        """The body of a call as it arrives, for `async for chunk in ...` in a coroutine
        (an `rhc.download.BodyStream`). `timeout` (default: the connection's) is how long
        to wait for the next bytes while the loop waits for them; None or 0 waits on."""
        if body is None and kwargs:
            body = kwargs
        method = method.upper()
        _, out, _ = self._request(method, path, body, headers, self.is_form, self.setup)
        if type(out) is CallError:
            raise out
        receiver = Receiver(self, method, out, self.timeout if timeout is None else timeout)
        return BodyStream(receiver, self._start_stream)

    def _start_stream(self, receiver):
        if self.addresses is None:
            self._resolve_then(receiver.start)
        else:
            receiver.start()

    def events(self, path='', headers=None, last_event_id=None, retries=5, timeout=45.0,
               reconnect=3.0):
        """Server-Sent Events from `path`, as `rhc.Event`s, for `async for event in ...`
        (an `rhc.eventsource.EventSource`).

        A dropped connection is made again after the server's `retry` (`reconnect`
        seconds until it sends one), with `Last-Event-ID`; after `retries` attempts
        in a row that bring no event, CallError. A 204 ends the events; any other
        status but 200, or a body that is not text/event-stream, is a CallError at
        once. `timeout`: seconds of silence (pings count) that drop the connection.
        """
        return EventSource(self, path, headers, last_event_id, retries, timeout, reconnect)

    def close(self):
        """Close the idle connections of the pool."""
        self.idle.close()

    # -- machinery ----------------------------------------------------------

    def _loop(self):
        return self.loop or get_loop()

    def _start(self, callback, method, path, body, headers, options):
        if options:
            option = options.get
            is_form, setup = option('is_form', self.is_form), option('setup', self.setup)
        else:
            option = None
            is_form, setup = self.is_form, self.setup
        target, out, handling = self._request(method, path, body, headers, is_form, setup)
        loop = self.loop or get_loop()
        if option is None:
            exchange = Exchange(self, loop, handling, callback, method, target, out,
                                self.is_json, self.timeout, self.wrapper, self.handler)
        else:
            exchange = Exchange(self, loop, handling, callback, method, target, out,
                                option('is_json', self.is_json), option('timeout', self.timeout),
                                option('wrapper', self.wrapper), option('handler', self.handler),
                                option('full', False))
        if self.addresses is None:
            self._resolve_then(exchange.start)
        else:
            exchange.start()
        return exchange

    def _request(self, method, path, body, headers, is_form, setup):
        """(target, the request's bytes or the CallError that building them made, and
        the request being served that the call is made for, or None)."""
        target = self.base_path + path
        if not target.startswith('/'):
            target = '/' + target
        data, content_type = encode_body(body, is_form) if body is not None else (b'', None)
        loop = self.loop or get_loop()
        handling = handled_request(loop)    # the request served, whose trace this call joins
        try:
            if headers or content_type or setup is not None:
                all_headers = dict(self.headers)
                if headers:
                    all_headers.update(headers)
                if content_type and not any(k.lower() == 'content-type' for k in all_headers):
                    all_headers['Content-Type'] = content_type
                if setup is not None:
                    target, all_headers, data = setup(target, all_headers, data)
                fields = self._host_fields + http.request_fields(all_headers)
                if handling is not None and self.trace:
                    fields += handling.outbound_fields({k.lower() for k in all_headers})
            else:
                fields = self._default_fields()
                if handling is not None and self.trace:
                    fields += handling.outbound_fields(self._default_names)
            if data or method in _WITH_BODY:
                fields += b'Content-Length: %d\r\n' % len(data)
            out = http.request_head(method, target, fields) + data
        except ValueError as e:
            out = CallError(f'bad request: {e}')
        return target, out, handling

    def _default_fields(self):
        """Host, User-Agent and the connection's own headers, checked once (again if they change)."""
        if self._fields_of != self.headers:
            self._fields = self._host_fields + http.request_fields(self.headers)
            self._fields_of = dict(self.headers)
            self._default_names = frozenset(k.lower() for k in self.headers)
        return self._fields

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


def connect(callback, url=None, method='GET', body=None, headers=None, is_json=True,
            timeout=5.0, **kwargs):
    """One call to a full url; `callback(rc, result)` when it completes.

    Without a callback (`rhc.connect(url, ...)`), it is a partial like
    `Connection.get`'s: `await rhc.connect('http://svc/x')` in a coroutine.
    """
    if isinstance(callback, str):
        return Call(connect, callback, method, body, headers, is_json, timeout, **kwargs)
    parts = urllib.parse.urlsplit(url)
    base = urllib.parse.urlunsplit((parts.scheme, parts.netloc, '', '', ''))
    target = urllib.parse.urlunsplit(('', '', parts.path or '/', parts.query, ''))
    connection = Connection(base, is_json=is_json, timeout=timeout)

    def done(rc, result):
        connection.close()
        callback(rc, result)
    return connection.request(method, target, body, headers, **kwargs)(done)
