"""A running service: what a micro model describes, set up on a loop.

This is the one module that sees both the language (the model) and the
runtime (listeners, connections, settings). Everything that can fail at
load time fails here, as a `MicroError` naming the micro line.
"""
import inspect
import logging
import types

from micro import MicroError

from rhc import apidocs, observe, openapi, probes
from rhc.config import load_settings
from rhc.coroutine import spawn
from rhc.resources import MicroConnection
from rhc.importer import resolve
from rhc.routing import Router, is_async
from rhc.limits import Limits
from rhc.server import Server
from rhc.transport import Transport

log = logging.getLogger('rhc.service')


def settings_namespace(settings, service):
    """`rhc.micro.config`: CONFIG names as attributes (dotted names nest)."""
    root = types.SimpleNamespace()
    for name in service.configs:
        target = root
        *parents, leaf = name.split('.')
        for part in parents:
            if not isinstance(getattr(target, part, None), types.SimpleNamespace):
                setattr(target, part, types.SimpleNamespace())
            target = getattr(target, part)
        setattr(target, leaf, settings[name])
    return root


class Service:
    """Servers (`servers[NAME]`) and connections (`connections[NAME]`) of one model."""

    def __init__(self, model, loop, config_file=None, environ=None, log_requests=True,
                 reuse_port=False):
        self.model = model
        self.loop = loop
        self.settings = load_settings(model, config_file, environ)
        self.config = settings_namespace(self.settings, model)
        self.routers = {name: Router(server, model.enums) for name, server in model.servers.items()}
        self.readiness = probes.Readiness()     # what READY answers, for every server
        self.documents = {}     # server name -> its OpenAPI document, built once
        for name, server in model.servers.items():
            if server.openapi is not None:
                self._serve_openapi(name, server)
            self._serve_probes(name, server)
            if server.metrics is not None:
                self._serve_metrics(name, server)
        self.connections = {name: MicroConnection(connection, self.settings, loop)
                            for name, connection in model.connections.items()}
        self.setups = [resolve(s.handler, s) for s in model.setups]
        self.teardowns = [resolve(t.handler, t) for t in model.teardowns]
        self.log_requests = log_requests
        self.reuse_port = reuse_port
        self.servers = {}
        self.starting = None    # the task of an async SETUP, while it runs
        # Requests are counted only when some server serves the metrics.
        self.counts_requests = any(server.metrics is not None for server in model.servers.values())
        for connection in self.connections.values():
            connection._counted = self.counts_requests      # and so are the calls it makes
        # What a METRICS route shows: this process's snapshot. Under --workers,
        # `gather` answers instead: a handler that answers, later, the sum over
        # the workers (rhc.scrapes).
        self.scrape = self.metrics_snapshot
        self.gather = None

    def openapi_document(self, name):
        """The OpenAPI document (a dict) of server `name`, with or without OPENAPI."""
        if name not in self.documents:
            handlers = {endpoint.path: endpoint.handler for route in self.routers[name].routes
                        for endpoint in route.endpoints.values()}
            server = self.model.servers[name]
            self.documents[name] = openapi.document(server, self.model.enums, handlers)
        return self.documents[name]

    def _serve_openapi(self, name, server):
        node = server.openapi
        try:
            hidden = apidocs.install(self.routers[name], node, self.openapi_document(name),
                                     self.settings[f'server.{name}.openapi.ui_url'])
        except ValueError as e:
            raise MicroError(node.source, node.line, str(e)) from None
        for pattern in hidden:
            log.warning('%s: ROUTE %s is hidden where it matches the OPENAPI paths',
                        node.where, pattern)

    def _serve_probes(self, name, server):
        node = server.ready
        check = resolve(node.check, node) if node is not None and node.check else None
        try:
            hidden = probes.install(self.routers[name], server, self.readiness, check)
        except ValueError as e:
            raise MicroError(node.source, node.line, str(e)) from None
        for pattern in hidden:
            log.warning('%s: ROUTE %s is hidden where it matches a probe path', server.where, pattern)

    def _serve_metrics(self, name, server):
        node = server.metrics
        here = observe.metrics_handler(lambda: self.scrape())

        def answer(request):
            return here(request) if self.gather is None else self.gather(request)
        try:
            hidden = self.routers[name].add_builtin(node.path, answer, 'the metrics', silent=True)
        except ValueError as e:
            raise MicroError(node.source, node.line, str(e)) from None
        for pattern in hidden:
            log.warning('%s: ROUTE %s is hidden where it matches the METRICS path',
                        node.where, pattern)

    def metrics_snapshot(self):
        """This process's metrics as a snapshot (rhc.exposition), gauges read now."""
        return observe.snapshot(self.servers)

    def listen(self, sockets=None):
        """Bind every active server; an error names the SERVER line.

        `sockets` ({name: listening socket}) are ports a master bound for
        this worker: those servers accept on them instead of binding.
        """
        sockets = sockets or {}
        for name, server in self.model.servers.items():
            prefix = f'server.{name}.'
            if not self.settings[prefix + 'is_active']:
                continue
            limits = Limits(**{key: self.settings[prefix + key]
                               for key in Limits.__dataclass_fields__})
            make_transport = self._transports(name, server)
            port = self.settings[prefix + 'port']
            host = self.settings[prefix + 'host']
            try:
                served = Server(self.loop, name, self.routers[name], host, port, limits,
                                make_transport, self.reuse_port, self.log_requests,
                                sockets.get(name))
            except OSError as e:
                self.close()
                raise MicroError(server.source, server.line,
                                 f'server {name} cannot listen on port {port}: {e.strerror}') from None
            served.observer = observe.Observer(name, self.routers[name], self.log_requests,
                                               self.counts_requests)
            self.servers[name] = served

    def _transports(self, name, server):
        """What each accepted socket becomes: a plain transport, or a TLS one."""
        prefix = f'server.{name}.ssl.'
        if not self.settings[prefix + 'is_active']:
            return Transport
        certfile, keyfile = self.settings[prefix + 'certfile'], self.settings[prefix + 'keyfile']
        if not certfile:
            raise MicroError(server.source, server.line,
                             f'server {name}: ssl.is_active needs {prefix}certfile')
        from rhc.tls import server_context, server_transports   # ssl only when used
        try:
            return server_transports(server_context(certfile, keyfile))
        except OSError as e:    # ssl.SSLError is an OSError
            raise MicroError(server.source, server.line,
                             f'server {name}: cannot load certificate: {e}') from None

    def setup(self):
        """Run SETUP, in order. Plain ones run now. From the first `async def`
        one on, the rest run in a task, while the servers listen and hold every
        request but the built-in routes (probes) until it is done; that task is
        returned (None when every SETUP was plain). A SETUP that raises stops
        the service: the error propagates, or ends the task.
        """
        for index, fn in enumerate(self.setups):
            if is_async(fn):
                break
            fn(self.config)
        else:
            self.readiness.ready()
            return None
        for server in self.servers.values():
            server.hold()
        self.starting = spawn(self._setup_async(self.setups[index:]), loop=self.loop)
        return self.starting

    async def _setup_async(self, setups):
        for fn in setups:
            result = fn(self.config)
            if inspect.isawaitable(result):
                await result
        self.starting = None
        self.readiness.ready()
        for server in self.servers.values():
            server.release()

    def start(self, announce=True):
        """Accept on every server; `announce=False` in a worker, whose master says it once."""
        for name, listener in self.servers.items():
            listener.start()
            if announce:
                log.info('listening on %s port %d', name, listener.port)

    def stop_keeping_alive(self):
        for listener in self.servers.values():
            listener.stop_keeping_alive()

    def stop_accepting(self):
        for listener in self.servers.values():
            listener.stop_accepting()

    @property
    def busy(self):
        return any(listener.busy for listener in self.servers.values())

    def teardown(self):
        for fn in self.teardowns:
            try:
                fn()
            except Exception:
                log.exception('TEARDOWN %r failed', fn)

    def close(self):
        """Stop every server now; returns the handler tasks this cancelled."""
        if self.starting is not None:
            self.starting.cancel()
        cancelled = []
        for server in self.servers.values():
            cancelled += server.close()
        return cancelled
