"""An in-process test client: a service loaded on free ports, called over a socket.

    with rhc.testing.Client('service.micro') as client:
        client.connection.quotes.mock = FakeQuotes()
        answer = client.get('/quote/1')
        assert answer.status == 200 and answer.json() == {...}

Each client has its own loop and its own registry, made current only while
it works (SETUP on enter, each call, TEARDOWN on exit): handlers only run
then, so what they reach through `rhc.micro.connection`, `rhc.micro.config`
or the loop is this client's, and two clients never see each other's.
Calls go through rhc's own client to the real server code, and their
answers are `rhc.Response`s, whatever the status.
"""
import contextlib
import json as jsonlib
import os
import sys
import urllib.parse

import micro as language

from rhc import loop as loops
from rhc import registry as registries
from rhc.client import Connection, encode_body
from rhc.config import load_settings
from rhc.running import wait
from rhc.service import Service

JSON = 'application/json; charset=utf-8'
METHODS = ('GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD')

# Where the client puts a SERVER unless the config or the given environ says otherwise.
PLACEMENT = (('host', '127.0.0.1'), ('port', '0'))


def placement(model, config, environ):
    """Environment values that put each SERVER on 127.0.0.1 port 0.

    Only where neither the config nor `environ` (as given, not the process's
    environment) places it: a test never depends on a fixed port by accident.
    """
    settings = {setting.key: setting for setting in load_settings(model, config, environ={})}
    env = {}
    for name in model.servers:
        for suffix, value in PLACEMENT:
            setting = settings[f'server.{name}.{suffix}']
            if setting.origin.startswith('default') and setting.env not in environ:
                env[setting.env] = value
    return env


def encode(json, data, headers):
    """(body bytes, headers) for a call's `json=` or `data=`."""
    if json is not None and data is not None:
        raise TypeError('give json= or data=, not both')
    headers = dict(headers or {})
    if json is not None:
        body, content_type = jsonlib.dumps(json).encode(), JSON
    else:
        body, content_type = encode_body(data, is_form=isinstance(data, dict))
    if content_type and not any(key.lower() == 'content-type' for key in headers):
        headers['Content-Type'] = content_type
    return body, headers


def with_query(path, query):
    if not query:
        return path
    return path + ('&' if '?' in path else '?') + urllib.parse.urlencode(query, doseq=True)


def _trusting_context():
    """An https context for the client's own in-process server (often self-signed)."""
    import ssl      # only for a server with ssl.is_active
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


class _Connections:
    """The loaded connections by attribute: `client.connection.NAME.mock = obj`."""

    def __init__(self, connections):
        self._connections = connections

    def __getattr__(self, name):
        try:
            return self._connections[name]
        except KeyError:
            raise AttributeError(f'the service has no connection {name!r}') from None

    def __dir__(self):
        return sorted(self._connections)


def _verb(method):
    def call(self, path, json=None, data=None, headers=None, query=None, **options):
        return self.request(method, path, json=json, data=data, headers=headers, query=query,
                            **options)
    call.__name__ = call.__qualname__ = method.lower()
    call.__doc__ = f'`request({method!r}, path, ...)`: an `rhc.Response`, whatever the status.'
    return call


class _Calls:
    """`get/post/put/patch/delete/head(path, json=None, data=None, headers=None, query=None)`."""

    get, post, put, patch, delete, head = (_verb(method) for method in METHODS)


class ServerCalls(_Calls):
    """The calls of a client, to one of its servers (`client.server('NAME')`)."""

    def __init__(self, client, name):
        self.client = client
        self.name = name

    def request(self, method, path, **kwargs):
        return self.client.request(method, path, server=self.name, **kwargs)

    @property
    def url(self):
        return self.client.url_of(self.name)


class Client(_Calls):
    """A micro service loaded in-process, on its own loop and its own registry.

    `source` is what `micro.parse` takes; `config` a settings file path or a
    dict; `environ` replaces the process's environment for the settings.
    Every SERVER listens on 127.0.0.1 port 0 unless the config or `environ`
    says otherwise. `timeout` bounds each call (a `CallError('timeout')`).
    """

    def __init__(self, source, config=None, environ=None, timeout=10.0):
        self.source = source
        self.config_source = config
        self.environ = environ
        self.timeout = timeout
        self.loop = None
        self.service = None
        self.registry = None
        self._clients = {}      # server name -> rhc Connection to it

    # -- in and out --------------------------------------------------------

    def __enter__(self):
        if self.loop is not None:
            raise RuntimeError('this test client is already open')
        model = language.parse(self.source)
        self._find_handlers_beside(self.source)
        environ = dict(os.environ if self.environ is None else self.environ)
        environ.update(placement(model, self.config_source, self.environ or {}))
        self.loop = loops.Loop()
        self.registry = registries.Registry()
        try:
            with self.current():
                self.service = Service(model, self.loop, config_file=self.config_source,
                                       environ=environ)
                self.service.listen()
                self.registry.add_servers(self.service)
                self.registry.publish(self.service)
                self.service.setup()
                self.service.start()
        except BaseException:
            self._close()
            raise
        return self

    def __exit__(self, *exc_info):
        try:
            self._stop_serving()
            with self.current():
                self.service.teardown()
        finally:
            self._close()

    @staticmethod
    def _find_handlers_beside(source):
        # As the launcher does: handlers live beside their micro file.
        if isinstance(source, str) and os.path.isfile(source):
            folder = os.path.dirname(os.path.abspath(source))
            if folder not in sys.path:
                sys.path.insert(0, folder)

    def _stop_serving(self):
        for client in self._clients.values():
            client.close()
        self._clients.clear()
        if self.service is not None:
            self.service.close()

    def _close(self):
        """Close every socket and the loop (also after a failed enter)."""
        self._stop_serving()
        loop, self.loop = self.loop, None
        if loop is None:
            return
        # Let the closed connections hear so (connection_lost runs soon).
        drained = []
        loop.call_soon(drained.append, True)
        loop.run_until(lambda: drained, timeout=1)
        loop.discard()
        loop.close()
        self.registry.close()
        self.service = self.registry = None

    @contextlib.contextmanager
    def current(self):
        """Make this client's registry and loop the current ones inside the block."""
        with registries.use(self.registry), loops.use(self.loop):
            yield self

    # -- what the service loaded --------------------------------------------

    @property
    def connection(self):
        """The service's connections: `client.connection.NAME.mock = obj`."""
        return _Connections(self._opened().connections)

    @property
    def config(self):
        """The CONFIG values, as handlers see them in `rhc.micro.config`."""
        return self._opened().config

    def server(self, name):
        """The same calls, to the server `name`."""
        self._listening(name)
        return ServerCalls(self, name)

    def port_of(self, name=None):
        return self._listening(name).port

    def url_of(self, name=None):
        listener = self._listening(name)
        scheme = 'https' if self._is_ssl(listener.name) else 'http'
        return f'{scheme}://127.0.0.1:{listener.port}'

    @property
    def url(self):
        """The url of the first server."""
        return self.url_of()

    def _opened(self):
        if self.loop is None:
            raise RuntimeError('open the test client first: with Client(...) as client')
        return self.service

    def _listening(self, name):
        servers = self._opened().servers
        if name is None:
            if not servers:
                raise LookupError('the service has no SERVER listening')
            return next(iter(servers.values()))
        try:
            return servers[name]
        except KeyError:
            raise LookupError(f'no server {name!r} is listening; there is '
                              f'{", ".join(servers) or "none"}') from None

    def _is_ssl(self, name):
        return self.service.settings[f'server.{name}.ssl.is_active']

    # -- calls ----------------------------------------------------------------

    def request(self, method, path, json=None, data=None, headers=None, query=None,
                server=None, timeout=None):
        """Call the service; its answer as an `rhc.Response`, whatever the status.

        `json=` sends a JSON body; `data=` bytes, text or a form (a dict);
        `query=` a dict (or pairs) appended to the path as a query string.
        A network failure or a timeout raises `rhc.CallError`.
        """
        body, headers = encode(json, data, headers)
        call = self._client_for(self._listening(server).name).request(
            method, with_query(path, query), body, headers, full=True,
            timeout=self.timeout if timeout is None else timeout)
        with self.current():
            return wait(call)

    def _client_for(self, name):
        client = self._clients.get(name)
        if client is None:
            context = _trusting_context() if self._is_ssl(name) else None
            client = Connection(self.url_of(name), ssl_context=context, loop=self.loop)
            self._clients[name] = client
        return client
