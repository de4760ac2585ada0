"""The rhc benchmark harness: rhc's server (and client) against its peers.

    python bench/run.py [--duration S] [--repeat N] [--only rhc,aiohttp]
                        [--scenarios ping,gateway] [--baseline REF] [--quick]
                        [--client | --no-client] [--install] [--output FILE]

Each server runs as one process tree pinned to CPU 0; the load generator
(wrk, or the idle client) runs pinned to CPU 1. Every (server, scenario)
gets a fresh server process. Repetitions are interleaved (rep 1: every
scenario, each against every server; rep 2: all again, the servers in the
other order ...) and medians are reported. With --baseline REF, each rhc
server gets a twin NAME@REF running rhc from REF's tree, and the report
gives new ÷ old per scenario. The tables live in lineup.py, scenarios.py and
targets.py; see bench/README.rst.
"""
import argparse
import datetime
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

import baseline as ab  # noqa: E402
import fmt  # noqa: E402
import report  # noqa: E402
import wrk  # noqa: E402
from harness import LOAD_CPU, Server, StartFailed, raise_open_files  # noqa: E402
from nginx import Backend  # noqa: E402
from scenarios import KINDS, SCENARIOS, Context, select_scenarios  # noqa: E402
from lineup import SERVERS  # noqa: E402

IDLE_CONNECTIONS = 10_000


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--duration', type=int, default=10, help='seconds per wrk run (default 10)')
    parser.add_argument('--repeat', type=int, default=3, help='interleaved repetitions (default 3)')
    parser.add_argument('--warmup', type=int, default=1,
                        help='seconds of wrk warm-up per run (default 1)')
    parser.add_argument('--only', help='comma-separated servers, of: ' + ','.join(SERVERS)
                        + ' (NAME@REF: rhc from git REF, as with --baseline)')
    parser.add_argument('--scenarios', help='comma-separated scenarios, of: ' + ','.join(SCENARIOS)
                        + ' (gateway: both gateway-32 and gateway-64)')
    parser.add_argument('--baseline', metavar='REF',
                        help='also run rhc from git REF (a temporary worktree) beside each rhc '
                             'server, as NAME@REF, and report new ÷ old')
    parser.add_argument('--ab-threshold', type=float, default=0.97,
                        help='the A/B table says whether new ≥ this × old (default 0.97)')
    parser.add_argument('--idle-connections', type=int, default=IDLE_CONNECTIONS,
                        help=f'connections of the idle scenario (default {IDLE_CONNECTIONS:,})')
    parser.add_argument('--starts', type=int, default=3,
                        help='starts per repetition in the startup scenario (default 3)')
    parser.add_argument('--quick', action='store_true',
                        help='a smoke run: --duration 2 --repeat 1 --warmup 0, shorter client runs')
    parser.add_argument('--client', action='store_true', help='only the client scenarios')
    parser.add_argument('--no-client', action='store_true', help='skip the client scenarios')
    parser.add_argument('--client-duration', type=float, default=3.0,
                        help='seconds per client run (default 3)')
    parser.add_argument('--client-server', choices=['aiohttp', 'rhc'], default='aiohttp',
                        help='the fixed server the clients call (default aiohttp)')
    parser.add_argument('--install', action='store_true',
                        help='when run as root, apt-get install wrk and nginx-light if missing')
    parser.add_argument('--output', default=os.path.join(HERE, 'RESULTS.md'),
                        help='where to write the report (default bench/RESULTS.md)')
    args = parser.parse_args(argv)
    if args.quick:
        args.duration, args.repeat, args.warmup = 2, 1, 0
        args.client_duration = min(args.client_duration, 1.0)
    args.settings = {'duration': args.duration, 'warmup': args.warmup, 'repeat': args.repeat,
                     'starts': args.starts, 'idle_connections': args.idle_connections,
                     'ab_threshold': args.ab_threshold}
    args.server_names, args.baseline = choose_servers(parser, args.only, args.baseline)
    args.scenario_names = list(SCENARIOS)
    if args.scenarios:
        args.scenario_names, unknown = select_scenarios(
            [s.strip() for s in args.scenarios.split(',') if s.strip()])
        if unknown:
            parser.error(f'unknown scenario(s) {", ".join(unknown)}; known: {", ".join(SCENARIOS)}')
    return args


def choose_servers(parser, only, baseline):
    """(server names, baseline ref): `--only` as given (NAME@REF naming the baseline),
    else every server; --baseline alone adds NAME@REF after each rhc server."""
    names = [n.strip() for n in only.split(',') if n.strip()] if only else list(SERVERS)
    refs = {n.partition('@')[2] for n in names if '@' in n}
    if baseline:
        refs.add(baseline)
    if len(refs) > 1:
        parser.error(f'one baseline at a time, not {", ".join(sorted(refs))}')
    unknown = [n for n in names if n.partition('@')[0] not in SERVERS
               or ('@' in n and not SERVERS[n.partition('@')[0]].rhc)]
    if unknown:
        parser.error(f'unknown server(s) {", ".join(unknown)}; known: {", ".join(SERVERS)}, '
                     'and NAME@REF for the rhc ones')
    ref = refs.pop() if refs else None
    if ref and not any('@' in n for n in names):
        names = [m for n in names for m in ([n, f'{n}@{ref}'] if SERVERS[n].rhc else [n])]
    return names, ref


def server_specs(names, tree):
    """{name: ServerSpec}, baseline twins pointing at the baseline's tree."""
    specs = {}
    for name in names:
        base, _, ref = name.partition('@')
        specs[name] = SERVERS[base].at(ref, tree) if ref else SERVERS[base]
    return specs


def check_rhc_trees(specs, notes):
    """Lines saying which commit each rhc server runs (printed); a server that would
    import rhc from another tree than its own is dropped, with a note."""
    trees = {}
    for name, spec in list(specs.items()):
        if not spec.rhc:
            continue
        try:
            ab.precompile(spec.root)
            line = ab.check_imports(spec)
        except (RuntimeError, subprocess.TimeoutExpired) as e:
            notes.append(str(e))
            print(f'  !! {e}', flush=True)
            del specs[name]
            continue
        trees.setdefault(line, []).append(name)
    commits = [f'{", ".join(names)}: {line}' for line, names in trees.items()]
    for line in commits:
        print(line, flush=True)
    return commits


def describe(run):
    """A short line of a run's main numbers, for the progress output."""
    if 'rps' in run:
        extra = ''.join(f'  {label} {fmt.count(run[key])}' for key, label in
                        (('backend_conns', 'backend conns'), ('mib_s', 'MiB/s')) if key in run)
        return (f'{run["rps"]:>10,.0f} req/s  p99 {fmt.ms(run["p99_ms"]):>9}  rss '
                f'{fmt.mib(run["rss_kib"])}{extra}  other load {fmt.pct(run["other_cpu_pct"])}')
    if 'kib_per_conn' in run:
        return (f'{fmt.kib(run["kib_per_conn"])} per connection ({run["opened"]:,} opened in '
                f'{run["open_s"]:.1f} s, RSS {fmt.mib(run["rss_before_kib"])} -> '
                f'{fmt.mib(run["rss_after_kib"])})')
    if 'startup_ms' in run:
        return f'started in {fmt.ms(run["startup_ms"])}'
    if 'stream_vs_whole' in run:
        return (f'streamed {fmt.mib_s(run["stream_mib_s"])}, whole {fmt.mib_s(run["whole_mib_s"])}'
                f' ({fmt.METRIC["stream_vs_whole"](run["stream_vs_whole"])}, '
                f'{run["downloads"]} downloads)')
    return str(run)


def plan(specs, scenario_names):
    """[[(scenario, server), ...], ...]: one group per scenario, in which a scenario that
    needs another (logged needs ping) runs right after it on each server, so the two
    numbers a ratio is made of are measured side by side."""
    groups = []
    for name in scenario_names:
        needs = [n for n in SCENARIOS[name].needs if n in scenario_names]
        if needs:
            continue
        members = [name] + [n for n in scenario_names if name in SCENARIOS[n].needs]
        groups.append([(s, server) for server, spec in specs.items() for s in members
                       if s in spec.scenarios])
    return [group for group in groups if group]


def bench_servers(specs, scenario_names, repeat, ctx):
    """{(server, scenario): [run, ...]}: every scenario against the servers that run it."""
    groups = plan(specs, scenario_names)
    results = {(server, s): [] for group in groups for s, server in group}
    failed = set()
    total, count = len(results) * repeat, 0
    for rep in range(1, repeat + 1):
        ctx.first = rep == 1
        for group in groups:
            # Every other repetition the servers go the other way round: no one always first.
            for scenario_name, name in (group if rep % 2 else reversed_servers(group)):
                count += 1
                if name in failed:
                    continue
                scenario = SCENARIOS[scenario_name]
                try:
                    runs = KINDS[scenario.kind].measure(specs[name], scenario, ctx)
                except StartFailed as e:
                    ctx.note(f'{name} failed to start (rep {rep}, {scenario_name}): {e}')
                    failed.add(name)
                    continue
                except (RuntimeError, OSError, ValueError, subprocess.TimeoutExpired) as e:
                    ctx.note(f'{name} {scenario_name} rep {rep}: {e}')
                    continue
                results[(name, scenario_name)] += runs
                for run in runs:
                    print(f'[{count}/{total}] rep {rep} {scenario_name:<10} {name:<26} '
                          f'{describe(run)}', flush=True)
    return results


def reversed_servers(group):
    """The group with its servers in reverse order, each server's scenarios kept in order."""
    servers = list(dict.fromkeys(server for _, server in group))[::-1]
    return [(s, server) for server in servers for s, other in group if other == server]


def pin_harness():
    """Keep the harness itself off the server's CPU (it polls during startup runs)."""
    try:
        os.sched_setaffinity(0, {int(LOAD_CPU)})
    except (AttributeError, OSError):
        pass


def run_servers(args, tree, notes):
    specs = server_specs(args.server_names, tree)
    commits = check_rhc_trees(specs, notes)
    wanted = [s for s in args.scenario_names if any(s in spec.scenarios for spec in specs.values())]
    limit = raise_open_files()
    idle = args.idle_connections
    if 'idle' in wanted and limit < idle + 100:
        idle = max(100, limit - 100)
        notes.append(f'idle: only {idle:,} connections (RLIMIT_NOFILE is {limit:,})')
    print(f'servers: {", ".join(specs)}; scenarios: {", ".join(wanted)}; '
          f'{args.repeat} x {args.duration}s (+{args.warmup}s warm-up)', flush=True)
    script_dir = tempfile.mkdtemp(prefix='rhc-bench-')
    backend = Backend() if any(SCENARIOS[s].backend for s in wanted) else None
    ctx = Context(args.duration, args.warmup, script_dir, idle, args.starts, backend)
    try:
        if backend:
            backend.start()
        results = bench_servers(specs, wanted, args.repeat, ctx)
    finally:
        if backend:
            backend.stop()
        shutil.rmtree(script_dir, ignore_errors=True)
    notes += ctx.notes
    note = report.disturbed_note(results)
    if note:
        notes.append(note)
    args.settings['idle_connections'] = idle
    return specs, wanted, results, commits


def main(argv=None):
    args = parse_args(argv)
    if (os.cpu_count() or 1) < 2:
        print('warning: fewer than 2 CPUs; server and load generator will share one', file=sys.stderr)
    started = datetime.datetime.now(datetime.timezone.utc)
    t0 = time.monotonic()
    pin_harness()
    # A SIGTERM (a timeout, say) unwinds like Ctrl-C: servers stop, the baseline's worktree goes.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    notes, specs, wanted, results, commits = [], {}, [], {}, []
    client_summary, client_meta = {}, {}
    if not args.client:
        needs_nginx = ('nginx' in args.server_names
                       or any(SCENARIOS[s].backend for s in args.scenario_names))
        if not wrk.ensure_tools(args.install, nginx=needs_nginx):
            return 2
        if args.baseline:
            try:
                base = ab.Baseline(args.baseline).checkout()
            except RuntimeError as e:
                print(f'--baseline {args.baseline}: {e}', file=sys.stderr)
                return 2
            try:
                print(f'baseline {args.baseline}: {base.commit} in {base.tree}', flush=True)
                specs, wanted, results, commits = run_servers(args, base.tree, notes)
            finally:
                base.remove()
        else:
            specs, wanted, results, commits = run_servers(args, None, notes)
    if not args.no_client:
        import client_bench
        client_summary, client_meta = client_bench.run_all(
            server_name=args.client_server, duration=args.client_duration, repeat=args.repeat,
            notes=notes, server_factory=lambda name: Server(SERVERS[name]))
    outcome = report.Outcome(
        command=' '.join(sys.argv[1:] if argv is None else argv),
        settings=args.settings,
        specs=specs, scenarios=wanted, results=results, summary=report.summarize(results),
        commits=commits, baseline=args.baseline, client_summary=client_summary,
        client_meta=client_meta, notes=notes, started=started, elapsed=time.monotonic() - t0)
    text = report.render(outcome)
    print()
    print(text)
    with open(args.output, 'w', encoding='utf-8') as f:
        f.write(text)
    print(f'written to {os.path.relpath(args.output)}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
