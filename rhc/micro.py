"""The notebook and script layer: load micro sources onto the process's loop.

`load_server` and `load_connection` set a micro source up on the default
loop; `connection.NAME` and `config.NAME` reach what was loaded. Loading a
server again replaces the earlier one of that name or port, so re-running a
notebook cell never fails with "address in use".
"""
import types

import micro as language
from micro import MicroError  # noqa: F401  (re-exported for users)

from rhc.loop import get_loop
from rhc.service import Service


class _Connections(types.SimpleNamespace):
    """`micro.connection.NAME`: the connections loaded so far."""


connection = _Connections()
config = types.SimpleNamespace()
_servers = {}      # name -> Listener, across every load_server


def _load(source, config_file, with_servers):
    model = language.parse(source)
    service = Service(model, get_loop(), config_file=config_file)
    if with_servers:
        ports = {service.settings[f'server.{name}.port'] for name in model.servers} - {0}
        for name, listener in list(_servers.items()):
            if name in model.servers or listener.port in ports:
                listener.close()
                del _servers[name]
        service.listen()
        _servers.update(service.servers)
    publish(service)
    return service


def publish(service):
    """Make the service's connections and CONFIG values reachable as
    `rhc.micro.connection.NAME` and `rhc.micro.config.NAME` (handlers use these)."""
    for name, conn in service.connections.items():
        setattr(connection, name, conn)
    for name, value in vars(service.config).items():
        setattr(config, name, value)


def load_server(source, config=None):
    """Set up the servers (and connections) of `source`; returns the service.

    `service.servers[NAME].port` is the bound port (useful with port 0).
    Nothing is served until the loop runs: `rhc.wait(...)` or `rhc.run()`.
    """
    service = _load(source, config, with_servers=True)
    service.setup()
    service.start()
    return service


def load_connection(source, config=None):
    """Set up the connections of `source` as `micro.connection.NAME`."""
    return _load(source, config, with_servers=False)


if __name__ == '__main__':
    # `python -m rhc.micro service.micro`, the original rhc's command, serves
    # as `python -m rhc.launch` does. The launcher imports this module under
    # its real name, so handlers see the same `rhc.micro` it fills.
    import sys
    from rhc.launch import main
    sys.exit(main())
