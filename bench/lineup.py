"""The servers under test: one table, one entry per server (or flavour of one).

Each entry says how to start it (a command line built from a `Launch`: port,
scratch directory, access log on or off), what extra environment it gets,
and which scenarios it runs in. A flavour of a server (the same app with
another gateway client, say) is one more entry with its own `env`; nothing
else needs to change. Entries with `rhc=True` run rhc's code: `--baseline
REF` gives each of them a twin NAME@REF that imports rhc from REF's tree.
"""
import dataclasses
import os
import sys
from typing import Callable

import nginx
from harness import ROOT, SERVERS_DIR

CLASSIC = ('ping', 'users', 'echo', 'close')
GATEWAY = ('gateway-32', 'gateway-64')
ALL = CLASSIC + ('logged', 'pipelined') + GATEWAY + ('upload', 'idle', 'startup')
STREAMING = ('stream', 'sse')       # rhc's own: rhc.Stream against itself, rhc.EventStream

RHC_MICRO = os.path.join(SERVERS_DIR, 'rhc_app', 'service.micro')
RHC_METRICS_MICRO = os.path.join(SERVERS_DIR, 'rhc_app', 'metrics.micro')


@dataclasses.dataclass(frozen=True)
class ServerSpec:
    name: str
    description: str
    argv: Callable             # Launch -> argv (without the taskset prefix)
    scenarios: tuple           # the scenarios it runs in
    env: dict = dataclasses.field(default_factory=dict)
    checked: bool = True       # its answers are real (not canned), so they are checked
    rhc: bool = False          # runs rhc's code: gets a twin under --baseline
    pinned: bool = True        # on SERVER_CPU; else free to run on every CPU
    root: str = ROOT           # the source tree its rhc is imported from
    ref: str = None            # the git ref of that tree, for a baseline twin

    @property
    def cwd(self):
        # `python -m rhc.launch` puts the cwd first on sys.path: make it the tree under test.
        return self.root if self.rhc else SERVERS_DIR

    def environment(self, port):
        env = dict(os.environ)
        env['PYTHONPATH'] = os.pathsep.join(filter(None, [self.root, os.environ.get('PYTHONPATH')]))
        env['SERVER_BENCH_PORT'] = str(port)
        env.update(self.env)
        return env

    def at(self, ref, tree):
        """This server running rhc from another tree: the baseline twin NAME@REF."""
        return dataclasses.replace(self, name=f'{self.name}@{ref}', root=tree, ref=ref,
                                   description=f'{self.description}; rhc from {ref}')


def _py(*args):
    return [sys.executable, *args]


def rhc_argv(launch):
    argv = _py('-m', 'rhc.launch', RHC_METRICS_MICRO if launch.metrics else RHC_MICRO,
               '--grace', '1')
    # Logged: the launcher's defaults, INFO lines on stderr (a file, here).
    return argv if launch.access_log else argv + ['--no-access-log', '--log-level', 'WARNING']


def rhc_workers_argv(count):
    """rhc under a master with `count` worker processes."""
    def build(launch):
        return rhc_argv(launch) + ['--workers', str(count)]
    return build


def app_argv(script):
    """A peer that is a script taking PORT [--access-log]."""
    def build(launch):
        argv = _py(os.path.join(SERVERS_DIR, script), str(launch.port))
        return argv + ['--access-log'] if launch.access_log else argv
    return build


def uvicorn_argv(loop, http):
    def build(launch):
        argv = _py('-m', 'uvicorn', 'starlette_app:app', '--app-dir', SERVERS_DIR,
                   '--host', '127.0.0.1', '--port', str(launch.port), '--loop', loop,
                   '--http', http, '--timeout-keep-alive', '75')
        # Logged: uvicorn's defaults, access lines at INFO on stdout.
        return argv if launch.access_log else argv + ['--no-access-log', '--log-level', 'warning']
    return build


def gunicorn_argv(launch):
    argv = _py('-m', 'gunicorn', '--chdir', SERVERS_DIR, '-k', 'sync', '-w', '1',
               '-b', f'127.0.0.1:{launch.port}', '--log-level', 'warning')
    # gunicorn logs no requests unless asked: --access-logfile - is its usual switch.
    return argv + (['--access-logfile', '-'] if launch.access_log else []) + ['flask_app:app']


def nginx_argv(launch):
    return nginx.argv(launch.port, launch.workdir)


def rhc_server(name, description, scenarios, gateway):
    """rhc with one gateway flavour: the BENCH_GATEWAY handler of rhc_app/handlers.py."""
    return ServerSpec(name, description, rhc_argv, scenarios,
                      env={'BENCH_GATEWAY': gateway}, rhc=True)


SERVERS = {spec.name: spec for spec in [
    rhc_server('rhc', 'rhc (python -m rhc.launch, --no-access-log --log-level WARNING); '
               'gateway: request.call on a micro CONNECTION/RESOURCE', ALL + STREAMING + ('metrics',),
               'resource'),
    rhc_server('rhc-conn', 'rhc; gateway: request.call on a plain rhc.Connection',
               GATEWAY, 'connection'),
    rhc_server('rhc-conn-untraced', 'rhc; gateway: request.call on a plain rhc.Connection '
               'made with trace=False (no traceparent, tracestate or X-Request-Id)',
               GATEWAY, 'connection-untraced'),
    rhc_server('rhc-async', 'rhc with async def handlers; gateway: awaiting the RESOURCE',
               ('ping', 'users') + GATEWAY, 'async'),
    ServerSpec('rhc-workers-1', 'rhc under a master with one worker (--workers 1), unpinned',
               rhc_workers_argv(1), ('workers',), env={'BENCH_GATEWAY': 'resource'}, rhc=True,
               pinned=False),
    ServerSpec('rhc-workers-2', 'rhc under a master with two workers (--workers 2), unpinned',
               rhc_workers_argv(2), ('workers',), env={'BENCH_GATEWAY': 'resource'}, rhc=True,
               pinned=False),
    ServerSpec('aiohttp', 'aiohttp web.run_app (C parser, access_log=None); '
               'gateway: a shared ClientSession', app_argv('aiohttp_app.py'), ALL),
    ServerSpec('uvicorn-httptools', 'starlette on uvicorn --loop uvloop --http httptools '
               '--no-access-log; gateway: a shared httpx.AsyncClient',
               uvicorn_argv('uvloop', 'httptools'), ALL),
    ServerSpec('uvicorn-httptools-aiohttp', 'starlette on uvicorn --loop uvloop --http '
               'httptools; gateway: a shared aiohttp ClientSession',
               uvicorn_argv('uvloop', 'httptools'), GATEWAY,
               env={'BENCH_GATEWAY_CLIENT': 'aiohttp'}),
    ServerSpec('uvicorn-h11', 'starlette on uvicorn --loop asyncio --http h11 --no-access-log',
               uvicorn_argv('asyncio', 'h11'), CLASSIC + ('logged',)),
    ServerSpec('tornado', 'tornado Application (log_function does nothing)',
               app_argv('tornado_app.py'), CLASSIC + ('logged', 'startup')),
    ServerSpec('flask-gunicorn', 'flask on gunicorn -k sync -w 1 (no access log)',
               gunicorn_argv, CLASSIC + ('logged', 'startup')),
    ServerSpec('bare-selectors', 'bare selectors loop, canned reply, no parsing (a floor '
               'reference)', app_argv('bare_selectors.py'), CLASSIC, checked=False),
    ServerSpec('nginx', 'nginx, one worker, `return 200` from its config (a floor reference)',
               nginx_argv, ('pipelined',)),
]}

PACKAGES = ['aiohttp', 'uvicorn', 'httptools', 'uvloop', 'starlette', 'tornado', 'flask',
            'gunicorn', 'httpx', 'requests', 'h11']
