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
from rhc.coroutine import CANCEL_GRACE
from rhc.loop import get_loop
from rhc import logs, registry
from rhc.reload import watch
from rhc.service import Service
from rhc.supervisor import supervise
from rhc.worker import RETIRE, MasterLink, parse_sockets

EXIT_OK = 0
EXIT_BAD_MICRO = 1
EXIT_BAD_ARGS = 1
EXIT_INTERRUPTED = 1    # a second SIGTERM or Ctrl-C cut the drain short
EXIT_SETUP_FAILED = 1

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
    parser.add_argument('--workers', type=int, metavar='N',
                        help='run N worker processes sharing each port under a master that '
                             'replaces them (0: one per CPU; default: serve in this process)')
    parser.add_argument('--worker-timeout', type=float, default=30.0, metavar='SECONDS',
                        help='with --workers, kill and replace a worker whose loop has not '
                             'turned for this long (default 30)')
    parser.add_argument('--grace', type=float, default=10.0, metavar='SECONDS',
                        help='on SIGTERM, how long requests in flight may take to finish (default 10)')
    parser.add_argument('--drain-delay', type=float, default=0.0, metavar='SECONDS',
                        help='on SIGTERM, READY answers 503 at once, but serving goes on this long '
                             'before the drain, for a load balancer to notice (default 0)')
    # How a master (rhc/supervisor.py) starts a worker: not for people.
    parser.add_argument('--worker-pipe', type=int, help=argparse.SUPPRESS)
    parser.add_argument('--worker-socket', action='append', help=argparse.SUPPRESS)
    parser.add_argument('--worker-control', type=int, help=argparse.SUPPRESS)
    parser.add_argument('--worker-metrics', metavar='DIR', help=argparse.SUPPRESS)
    parser.add_argument('--reload', action='store_true',
                        help='development: serve, and restart when the micro file, a file it '
                             'imports, the config file or a Python file beside it changes')
    return parser.parse_args(argv)


def check_report(service):
    """The route and connection tables, as `--check` prints them."""
    lines = []
    for name, server in service.model.servers.items():
        lines.append(f"server {name} port {service.settings[f'server.{name}.port']}")
        if server.health is not None:
            lines.append(f'  HEALTH {server.health.path}')
        if server.ready is not None:
            check = f'  check={server.ready.check}' if server.ready.check else ''
            lines.append(f'  READY  {server.ready.path}{check}')
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


def serve(service, grace, drain_delay=0.0, link=None):
    """Serve until SIGTERM or Ctrl-C, then let requests in flight finish.

    On the first signal READY answers 503 at once; serving goes on for
    `drain_delay` seconds (answers then close their connections), then the
    drain: stop accepting, wait up to `grace` for what is in flight. A second
    signal ends all that at once. Under a master (`link`, a MasterLink) the
    loop also beats for it, and RETIRE from it drains without the delay.
    Returns the exit status.
    """
    loop = get_loop()
    stop = []
    for signum in (signal.SIGTERM, signal.SIGINT) + ((RETIRE,) if link else ()):
        loop.add_signal_handler(signum, lambda signum=signum: stop.append(signum))
    failed = []
    try:
        starting = service.setup()
    except Exception as e:
        failed.append(e)
    else:
        if starting is not None:        # an async SETUP: it runs while the servers listen
            starting.add_done_callback(lambda task: task.cancelled() or (
                task.exception() is not None and failed.append(task.exception())))
        service.start(announce=link is None)
        if link is not None:
            link.start(service.readiness, lambda: stop.append(signal.SIGTERM))
        loop.run_until(lambda: stop or failed)
    if failed:
        log.error('SETUP failed; stopping', exc_info=failed[0])
        service.close()
        loop.remove_signal_handlers()
        return EXIT_SETUP_FAILED
    log.info('stopping: %s', signal.Signals(stop[0]).name)
    service.readiness.draining()
    if link is not None:
        link.stopping()
    if drain_delay > 0 and stop[0] != RETIRE:
        log.info('READY answers 503; serving %.1fs more before the drain', drain_delay)
        service.stop_keeping_alive()
        loop.run_until(lambda: len(stop) > 1, timeout=drain_delay)
    service.stop_accepting()
    if len(stop) == 1:
        loop.run_until(lambda: not service.busy or len(stop) > 1, timeout=grace)
    status = EXIT_OK
    if len(stop) > 1:
        log.warning('second %s during the drain: closing connections now',
                    signal.Signals(stop[1]).name)
        status = EXIT_INTERRUPTED
    elif service.busy:
        log.warning('grace period of %.1fs over; closing connections still busy', grace)
    cancelled = service.close()
    if cancelled:       # coroutine handlers cut off: let their finally blocks run
        loop.run_until(lambda: all(task.done() for task in cancelled), timeout=CANCEL_GRACE)
    if link is not None:
        link.exiting()
    service.teardown()
    loop.remove_signal_handlers()
    return status


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    # Lines are buffered and written by a timer on the loop (rhc.logs). Under a
    # master, the lines of several processes mix: each names its pid.
    with_pid = args.workers is not None or args.worker_pipe is not None
    logs.configure(args.log_level, args.log_format, sys.stderr, get_loop(), with_pid)
    if os.path.isfile(args.source):
        # Handlers live beside their micro file: `GET ping.ping` finds ping.py there.
        sys.path.insert(0, os.path.dirname(os.path.abspath(args.source)))
    elif os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    one_shot = args.check or args.config_only or args.openapi
    if args.reload and not one_shot:
        if args.workers is not None:
            print('--reload runs one process: it cannot be used with --workers', file=sys.stderr)
            return EXIT_BAD_ARGS
        return watch(get_loop(), argv, args)
    problem = bad_numbers(args)
    if problem:
        print(problem, file=sys.stderr)
        return EXIT_BAD_ARGS
    link = None
    try:
        model = language.parse(args.source)
        if args.config_only:
            print(config_report(load_settings(model, args.config)))
            return EXIT_OK
        if args.workers is not None and args.worker_pipe is None and not one_shot:
            # The master: it starts workers as fresh processes and imports no handler.
            return supervise(get_loop(), argv, model, args)
        service = Service(model, get_loop(), config_file=args.config,
                          log_requests=not args.no_access_log)
        registry.current().publish(service)
        if args.check:
            print(check_report(service))
            return EXIT_OK
        if args.openapi:
            print(json.dumps(service.openapi_document(described_server(model)), indent=2))
            return EXIT_OK
        if args.worker_pipe is not None:
            link = MasterLink(get_loop(), args.worker_pipe, args.worker_timeout,
                              args.worker_control)
            if args.worker_metrics:     # a scrape answers the sum over the workers
                service.gather = link.gather_metrics(args.worker_metrics,
                                                     service.metrics_snapshot).scrape
        service.listen(parse_sockets(args.worker_socket))
    except MicroError as e:
        print(str(e), file=sys.stderr)
        return EXIT_BAD_MICRO
    return serve(service, args.grace, args.drain_delay, link)


def bad_numbers(args):
    """What is wrong with the numeric options, or None."""
    if args.workers is not None and args.workers < 0:
        return '--workers must be 0 (one per CPU) or more'
    for option in ('grace', 'drain_delay'):
        if getattr(args, option) < 0:
            return f"--{option.replace('_', '-')} must not be negative"
    if args.worker_timeout <= 0:
        return '--worker-timeout must be more than 0'
    return None


if __name__ == '__main__':
    sys.exit(main())
