"""`python -m rhc.launch service.micro`: check, inspect, or serve a micro service."""
import argparse
import json
import logging
import os
import signal
import sys

import micro as language
from micro import MicroError

from rhc.config import load_settings
from rhc.loop import get_loop
from rhc import logs, registry
from rhc.reload import watch
from rhc.service import Service

EXIT_OK = 0
EXIT_BAD_MICRO = 1
EXIT_BAD_ARGS = 1
EXIT_INTERRUPTED = 1    # a second SIGTERM or Ctrl-C cut the drain short

log = logging.getLogger('rhc.launch')


def parse_args(argv):
    parser = argparse.ArgumentParser(
        prog='rhc',
        description='Serve the micro service described in SOURCE (a .micro file, or a '
                    'dotted path to one inside an importable package).')
    parser.add_argument('source', help='the micro file, e.g. service.micro')
    parser.add_argument('--config', metavar='FILE',
                        help='a key=value settings file (environment variables override it)')
    parser.add_argument('--check', action='store_true',
                        help='parse and import everything, print the routes and connections, exit')
    parser.add_argument('--config-only', action='store_true',
                        help='print every setting with its value and where it came from, exit')
    parser.add_argument('--openapi', action='store_true',
                        help='print the OpenAPI 3.1 document of the first server with an '
                             'OPENAPI line (else of the first server), exit')
    parser.add_argument('--log-level', default='INFO', metavar='LEVEL',
                        help='DEBUG, INFO (default: one line per request), WARNING, ERROR')
    parser.add_argument('--no-access-log', action='store_true',
                        help='do not log one line per request')
    parser.add_argument('--log-format', choices=logs.FORMATS, default='text',
                        help='text (default), or json: every log line one JSON object')
    parser.add_argument('--workers', type=int, default=1, metavar='N',
                        help='processes sharing each port (default 1)')
    parser.add_argument('--grace', type=float, default=10.0, metavar='SECONDS',
                        help='on SIGTERM, how long requests in flight may take to finish (default 10)')
    parser.add_argument('--reload', action='store_true',
                        help='development: serve, and restart when the micro file, a file it '
                             'imports, the config file or a Python file beside it changes')
    return parser.parse_args(argv)


def check_report(service):
    """The route and connection tables, as `--check` prints them."""
    lines = []
    for name, server in service.model.servers.items():
        lines.append(f"server {name} port {service.settings[f'server.{name}.port']}")
        for route in server.routes:
            for verb, method in route.methods.items():
                auth = method.auth if method.auth is not None else server.auth
                extra = f'  auth={auth}' if auth not in (None, 'none') else ''
                lines.append(f'  {verb:<6} {route.pattern}  -> {method.handler}{extra}')
        if not server.routes:
            lines.append('  (no routes)')
    for name, connection in service.model.connections.items():
        lines.append(f"connection {name} {service.settings[f'connection.{name}.url'] or '(code)'}")
        for resource in connection.resources.values():
            params = [r.name for r in resource.required] + [f'{o.name}=' for o in resource.optional]
            lines.append(f"  {resource.name}: {resource.method} {resource.path}"
                         + (f"  ({', '.join(params)})" if params else ''))
    return '\n'.join(lines)


def described_server(model):
    """The server `--openapi` describes: the first with OPENAPI, else the first."""
    if not model.servers:
        raise MicroError(model.source, 0, '--openapi: no SERVER to describe')
    return next((name for name, server in model.servers.items() if server.openapi),
                next(iter(model.servers)))


def config_report(settings):
    rows = [(s.key, '' if s.value is None else str(s.value), s.origin) for s in settings]
    width = max((len(k) + len(v) + 3 for k, v, _ in rows), default=0)
    return '\n'.join(f'{f"{k} = {v}":<{width}}  # {origin}' for k, v, origin in rows)


def serve(service, grace):
    """Serve until SIGTERM or Ctrl-C, then let requests in flight finish.

    A second signal during that drain ends it at once. Returns the exit status.
    """
    loop = get_loop()
    stop = []
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, lambda signum=signum: stop.append(signum))
    service.setup()
    service.start()
    loop.run_until(lambda: stop)
    log.info('stopping: %s', signal.Signals(stop[0]).name)
    service.stop_accepting()
    status = EXIT_OK
    loop.run_until(lambda: not service.busy or len(stop) > 1, timeout=grace)
    if service.busy and len(stop) > 1:
        log.warning('second %s during the drain: closing connections now',
                    signal.Signals(stop[1]).name)
        status = EXIT_INTERRUPTED
    elif service.busy:
        log.warning('grace period of %.1fs over; closing connections still busy', grace)
    service.close()
    service.teardown()
    loop.remove_signal_handlers()
    return status


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    # Lines are buffered and written by a timer on the loop (rhc.logs).
    logs.configure(args.log_level, args.log_format, sys.stderr, get_loop())
    if os.path.isfile(args.source):
        # Handlers live beside their micro file: `GET ping.ping` finds ping.py there.
        sys.path.insert(0, os.path.dirname(os.path.abspath(args.source)))
    elif os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    if args.reload and not (args.check or args.config_only or args.openapi):
        if args.workers != 1:
            print('--reload runs one process: it cannot be used with --workers', file=sys.stderr)
            return EXIT_BAD_ARGS
        return watch(get_loop(), argv, args)
    try:
        model = language.parse(args.source)
        if args.config_only:
            print(config_report(load_settings(model, args.config)))
            return EXIT_OK
        if args.workers != 1:
            raise MicroError(args.source, 0, '--workers is not available yet')
        service = Service(model, get_loop(), config_file=args.config,
                          log_requests=not args.no_access_log)
        registry.current().publish(service)
        if args.check:
            print(check_report(service))
            return EXIT_OK
        if args.openapi:
            print(json.dumps(service.openapi_document(described_server(model)), indent=2))
            return EXIT_OK
        service.listen()
    except MicroError as e:
        print(str(e), file=sys.stderr)
        return EXIT_BAD_MICRO
    return serve(service, args.grace)


if __name__ == '__main__':
    sys.exit(main())
