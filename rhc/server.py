"""HTTP serving: a SERVER's listening socket and the connections it accepted.

Each accepted connection is an `HTTPProtocol` (rhc/server_protocol.py) on a
transport (rhc/transport.py: plain TCP, or TLS from rhc/tls.py).
"""
import itertools

from rhc.limits import Limits
from rhc.observe import Observer
from rhc.server_protocol import HTTPProtocol, run_endpoint
from rhc.transport import Listener, Transport


class Server:
    """One SERVER: a listening socket, the router and limits, the connections accepted."""

    def __init__(self, loop, name, router, host='0.0.0.0', port=0, limits=None,
                 make_transport=Transport, reuse_port=False, log_requests=True, sock=None):
        self.loop = loop
        self.name = name
        self.router = router
        self.limits = limits or Limits()
        self.make_transport = make_transport
        self.log_requests = log_requests
        self.connections = set()
        self.stopping = False
        self.held = None        # requests waiting for an async SETUP, while it runs
        self.keep_alive = True      # False: every answer says `Connection: close`
        # Counts and logs each answer (rhc/observe.py); the service gives it the metrics.
        self.observer = Observer(name, router, log_requests)
        self._ids = itertools.count(1)
        self.listener = Listener(loop, host, port, self._accept, reuse_port,
                                 name=f'server {name}', sock=sock)
        self.port = self.listener.port

    def start(self):
        self.listener.start()

    def _accept(self, sock, peer):
        protocol = HTTPProtocol(self, next(self._ids), peer)
        try:
            transport = self.make_transport(self.loop, sock, protocol, peer)
        except OSError:     # a TLS socket that could not be set up
            sock.close()
            return
        self.connections.add(protocol)
        transport.start()

    def hold(self):
        """Hold every request but the built-in routes until `release()` (an async SETUP runs)."""
        if self.held is None:
            self.held = []

    def release(self):
        """Serve the requests held, in the order they came."""
        held, self.held = self.held or [], None
        for protocol, request, endpoint, route, groups, check_auth in held:
            if protocol.current is request:     # its client has not gone away meanwhile
                run_endpoint(self.loop, request, endpoint, route, groups, check_auth)

    def stop_keeping_alive(self):
        """Still accept, but close each connection after its next answer.

        During a drain delay this sends keep-alive clients back through their
        balancer, which by then routes them to another instance.
        """
        self.keep_alive = False

    def stop_accepting(self):
        """Close the listening socket; connections in flight go on."""
        if self.stopping:
            return
        self.stopping = True
        self.keep_alive = False
        self.listener.close()
        for connection in list(self.connections):
            connection.drain()

    @property
    def busy(self):
        """Any connection still open (when stopping: busy, or idle but not yet quiet)?"""
        if self.stopping:
            return any(c.transport is not None and not c.transport.is_closing()
                       for c in self.connections)
        return any(not c.is_idle() for c in self.connections)

    def close(self):
        """Stop everything now: the listener and every connection.

        Returns the handler tasks this cancelled: their `finally` blocks run
        on the loop's next turns.
        """
        self.stop_accepting()
        self.held = None
        cancelled = []
        for connection in list(self.connections):
            current = connection.current
            if current is not None and current.task is not None and not current.task.done():
                cancelled.append(current.task)
            connection.close()
        self.connections.clear()
        return cancelled
