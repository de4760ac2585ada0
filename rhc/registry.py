"""What a process has loaded, for the convenience layer handlers and notebooks use.

`micro.load_server`, `micro.load_connection` and the launcher register a
service here; `rhc.micro.connection.NAME` and `rhc.micro.config.NAME` read
from it. There is one current registry, made on first use the way the loop
is; `use()` swaps it for a while (an in-process test client has its own).
"""
import contextlib
import types


class Registry:
    """Servers by name, connections by name, and CONFIG values, across loads."""

    def __init__(self):
        self.servers = {}                       # name -> Server (listening)
        self.connections = {}                   # name -> MicroConnection
        self.config = types.SimpleNamespace()   # CONFIG names as attributes

    def publish(self, service):
        """Make the service's connections and CONFIG values reachable by handlers."""
        self.connections.update(service.connections)
        for name, value in vars(service.config).items():
            setattr(self.config, name, value)

    def replace_servers(self, service):
        """Stop earlier servers with the same name or port as those of `service`.

        Loading again must not fail with "address in use": re-running a
        notebook cell replaces what the cell loaded before.
        """
        names = set(service.model.servers)
        ports = {service.settings[f'server.{name}.port'] for name in names} - {0}
        for name, server in list(self.servers.items()):
            if name in names or server.port in ports:
                server.close()
                del self.servers[name]

    def add_servers(self, service):
        self.servers.update(service.servers)

    def close(self):
        """Stop every server loaded here and forget what was published."""
        for server in self.servers.values():
            server.close()
        self.servers.clear()
        self.connections.clear()
        self.config = types.SimpleNamespace()


_current = None


def current():
    """The registry in use (made on first use)."""
    global _current
    if _current is None:
        _current = Registry()
    return _current


@contextlib.contextmanager
def use(registry):
    """Make `registry` the current one inside the `with` block."""
    global _current
    previous, _current = _current, registry
    try:
        yield registry
    finally:
        _current = previous
