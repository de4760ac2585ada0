"""The notebook and script layer: load micro sources onto the process's loop.

`load_server` and `load_connection` set a micro source up on the default
loop; `connection.NAME` and `config.NAME` reach what was loaded (they read
the current registry, `rhc.registry`). Loading a server again replaces the
earlier one of that name or port, so re-running a notebook cell never fails
with "address in use". `reset()` stops everything loaded and forgets the loop.
"""
import micro as language
from micro import MicroError  # noqa: F401  (re-exported for users)

from rhc import loop, registry
from rhc.service import Service


class _Published:
    """A live view of one part of the current registry, by attribute."""

    def __init__(self, part, what):
        self._part = part
        self._what = what

    def _values(self):
        found = getattr(registry.current(), self._part)
        return found if isinstance(found, dict) else vars(found)

    def __getattribute__(self, name):
        # Not __getattr__: a handler reads `connection.NAME` on every request, and the
        # failed ordinary lookup before __getattr__ would cost more than the read itself.
        if name[0] == '_':
            return object.__getattribute__(self, name)
        found = getattr(registry.current(), object.__getattribute__(self, '_part'))
        try:
            return found[name] if type(found) is dict else getattr(found, name)
        except (KeyError, AttributeError):
            raise AttributeError(f'no {self._what} {name!r} is loaded') from None

    def __dir__(self):
        return sorted(self._values())

    def __repr__(self):
        return f'<rhc.micro.{self._part}: {", ".join(sorted(self._values())) or "nothing loaded"}>'


connection = _Published('connections', 'connection')
config = _Published('config', 'CONFIG setting')


def _load(source, config_file, with_servers):
    model = language.parse(source)
    service = Service(model, loop.get_loop(), config_file=config_file)
    current = registry.current()
    if with_servers:
        current.replace_servers(service)
        service.listen()
        current.add_servers(service)
    current.publish(service)
    return service


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


def reset():
    """Stop every server loaded so far, forget every connection, and the loop."""
    registry.current().close()
    loop.reset_default()


if __name__ == '__main__':
    # `python -m rhc.micro service.micro`, the original rhc's command, serves
    # as `python -m rhc.launch` does (run as the main module, so handlers see
    # the `rhc.micro` it fills under its real name).
    import runpy
    runpy.run_module('rhc.launch', run_name='__main__', alter_sys=True)
