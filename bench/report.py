"""The report: medians of the runs, written as markdown (bench/RESULTS.md).

`summarize` turns the runs into medians; `render` writes the page from a
finished `Outcome`: targets first, then the A/B ratios (with --baseline),
rhc's ratio to each peer, one table per scenario, the client, and notes.
"""
import dataclasses
import importlib.metadata
import os
import platform
import sys

import fmt
import targets
import wrk
from harness import EVERY_CPU, LOAD_CPU, SERVER_CPU, python_startup_kib
from scenarios import KINDS, SCENARIOS, median
from lineup import PACKAGES

DISTURBED_PCT = 10.0


@dataclasses.dataclass
class Outcome:
    """Everything a finished run hands to the report."""
    command: str
    settings: dict              # duration, warmup, repeat, starts, idle_connections, ab_threshold
    specs: dict                 # name -> ServerSpec, in run order (baseline twins included)
    scenarios: list
    results: dict               # (server, scenario) -> [run, ...]
    summary: dict
    commits: list               # lines: which commit each rhc server ran
    baseline: str = None        # the --baseline ref
    client_summary: dict = None
    client_meta: dict = None
    notes: list = dataclasses.field(default_factory=list)
    started: object = None
    elapsed: float = 0.0


def summarize(results):
    """{server: {scenario: {metric: median, 'min', 'max', 'n'}}}; min/max of the kind's metric."""
    summary = {}
    for (server, scenario), runs in results.items():
        if not runs:
            continue
        metric = KINDS[SCENARIOS[scenario].kind].metric
        keys = {k for run in runs for k, v in run.items() if isinstance(v, (int, float))}
        stats = {k: median([run.get(k) for run in runs]) for k in keys}
        values = [run[metric] for run in runs if run.get(metric) is not None]
        stats.update(min=min(values, default=None), max=max(values, default=None), n=len(runs))
        summary.setdefault(server, {})[scenario] = stats
    return summary


def disturbed_note(results):
    loads = [r.get('other_cpu_pct') or 0.0 for runs in results.values() for r in runs
             if 'other_cpu_pct' in r]
    disturbed = [x for x in loads if x > DISTURBED_PCT]
    if not disturbed:
        return None
    return (f'{len(disturbed)} of {len(loads)} runs were disturbed: other processes (or steal) '
            f'took more than {DISTURBED_PCT:.0f}% of the machine meanwhile (at most '
            f'{max(disturbed):.0f}%); their numbers are less trustworthy')


# -- the columns of the scenario tables: name -> (header, fn(server, stats, outcome, scenario)) --

def _vs_rhc(server, s, out, scenario):
    if server == 'rhc':
        return ''
    rhc = out.summary.get('rhc', {}).get(scenario, {})
    return fmt.times(fmt.ratio(rhc.get('rps'), s.get('rps')))


def _vs_one_worker(server, s, out, scenario):
    one = out.summary.get('rhc-workers-1', {}).get(scenario, {}).get('rps')
    return '' if server == 'rhc-workers-1' else fmt.times(fmt.ratio(s.get('rps'), one))


def _vs_unlogged(server, s, out, scenario):
    unlogged = out.summary.get(server, {}).get('ping', {}).get('rps')
    return fmt.pct(None if not unlogged else 100 * s['rps'] / unlogged)


def _vs_ping(server, s, out, scenario):
    ping = out.summary.get(server, {}).get('ping', {}).get('rps')
    return fmt.pct(None if not ping else 100 * s['rps'] / ping)


COLUMNS = {
    'rps': ('req/s (median)', lambda n, s, o, sc: fmt.rate(s.get('rps'))),
    'range': ('min – max', lambda n, s, o, sc: f"{fmt.rate(s['min'])} – {fmt.rate(s['max'])}"),
    'p99': ('p99', lambda n, s, o, sc: fmt.ms(s.get('p99_ms'))),
    'rss': ('peak RSS', lambda n, s, o, sc: fmt.mib(s.get('rss_kib'))),
    'backend_conns': ('backend connections', lambda n, s, o, sc: fmt.count(s.get('backend_conns'))),
    'mib_s': ('MiB/s', lambda n, s, o, sc: fmt.rate(s.get('mib_s'))),
    'vs_unlogged': ('of unlogged (ping)', _vs_unlogged),
    'master_cpu': ('master CPU', lambda n, s, o, sc: fmt.pct1(s.get('master_cpu_pct'))),
    'vs_one_worker': ('÷ --workers 1', _vs_one_worker),
    'vs_ping': ('of ping without METRICS', _vs_ping),
    'vs_rhc': ('rhc ÷ this', _vs_rhc),
    'load': ('other load', lambda n, s, o, sc: fmt.pct(s.get('other_cpu_pct'))),
    'kib_per_conn': ('KiB per connection', lambda n, s, o, sc: fmt.kib(s.get('kib_per_conn'))),
    'kib_range': ('min – max', lambda n, s, o, sc: f"{fmt.kib(s['min'])} – {fmt.kib(s['max'])}"),
    'rss_before': ('RSS before', lambda n, s, o, sc: fmt.mib(s.get('rss_before_kib'))),
    'rss_after': ('RSS after', lambda n, s, o, sc: fmt.mib(s.get('rss_after_kib'))),
    'opened': ('connections', lambda n, s, o, sc: fmt.count(s.get('opened'))),
    'open_s': ('opened in', lambda n, s, o, sc: f"{s.get('open_s', 0):.1f} s"),
    'closed': ('closed by server', lambda n, s, o, sc: fmt.count(s.get('closed_by_server'))),
    'startup': ('exec → first answer (median)', lambda n, s, o, sc: fmt.ms(s.get('startup_ms'))),
    'startup_range': ('min – max', lambda n, s, o, sc: f"{fmt.ms(s['min'])} – {fmt.ms(s['max'])}"),
    'starts': ('starts', lambda n, s, o, sc: str(s['n'])),
    'stream_mib_s': ('streamed MiB/s', lambda n, s, o, sc: fmt.rate(s.get('stream_mib_s'))),
    'whole_mib_s': ('whole MiB/s', lambda n, s, o, sc: fmt.rate(s.get('whole_mib_s'))),
    'stream_vs_whole': ('streamed ÷ whole',
                        lambda n, s, o, sc: fmt.METRIC['stream_vs_whole'](s.get('stream_vs_whole'))),
    'downloads': ('downloads', lambda n, s, o, sc: fmt.count(s.get('downloads'))),
}

KIND_COLUMNS = {
    'wrk': lambda sc: ('rps', 'range', *(('p99',) if sc.latency else ()), 'rss', *sc.columns,
                       *(() if 'vs_one_worker' in sc.columns else ('vs_rhc',)), 'load'),
    'idle': lambda sc: ('kib_per_conn', 'kib_range', 'rss_before', 'rss_after', 'opened',
                        'open_s', 'closed'),
    'startup': lambda sc: ('startup', 'startup_range', 'starts', 'rss'),
    'download': lambda sc: ('stream_mib_s', 'whole_mib_s', 'stream_vs_whole', 'downloads', 'rss'),
}


def scenario_table(out, name):
    scenario = SCENARIOS[name]
    kind = KINDS[scenario.kind]
    columns = KIND_COLUMNS[scenario.kind](scenario)
    ran = [n for n in out.specs if name in out.summary.get(n, {})]
    ran.sort(key=lambda n: out.summary[n][name].get(kind.metric) or 0,
             reverse=kind.higher_is_better)
    title = scenario.title
    if scenario.kind == 'idle' and not scenario.clients:
        title += f' ({out.settings["idle_connections"]:,} connections)'
    lines = [f'### {name}: {title}', '',
             '| server | ' + ' | '.join(COLUMNS[c][0] for c in columns) + ' |',
             '|---|' + '---:|' * len(columns)]
    for server in ran:
        stats = out.summary[server][name]
        cells = [COLUMNS[c][1](server, stats, out, name) for c in columns]
        label = f'**{server}**' if out.specs[server].rhc else server
        lines.append(f'| {label} | ' + ' | '.join(cells) + ' |')
    missing = [n for n in out.specs if name in out.specs[n].scenarios and n not in ran]
    if missing:
        lines.append(f"| {', '.join(missing)} | no result |" + ' |' * (len(columns) - 1))
    return lines + ['']


def targets_table(rows):
    lines = ['| target | measured | met |', '|---|---|---|']
    for target, measured, met in rows:
        lines.append(f"| {target} | {measured} | "
                     f"{'n/a' if met is None else ('met' if met else '**not met**')} |")
    return lines + ['']


def peer_ratios(out):
    """rhc ÷ each peer, median req/s, over the wrk scenarios."""
    rhc = out.summary.get('rhc', {})
    names = [s for s in out.scenarios if SCENARIOS[s].kind == 'wrk' and s in rhc]
    peers = [n for n, spec in out.specs.items() if not spec.rhc and n in out.summary]
    if not rhc or not peers or not names:
        return []
    lines = ['## rhc ÷ peer (median req/s)', '', '| peer | ' + ' | '.join(names) + ' |',
             '|---|' + '---:|' * len(names)]
    for peer in peers:
        cells = [fmt.times(fmt.ratio(rhc.get(s, {}).get('rps'),
                                     out.summary[peer].get(s, {}).get('rps'))) for s in names]
        lines.append(f'| {peer} | ' + ' | '.join(cells) + ' |')
    return lines + ['']


def ab_table(out):
    """new ÷ old per scenario for each rhc server and its baseline twin."""
    threshold = out.settings['ab_threshold']
    lines = [f'## A/B: working tree ÷ {out.baseline}', '',
             f'Each pair ran interleaved in the same repetitions; medians of '
             f'{out.settings["repeat"]} repetition(s). "holds" means the new one is no worse than '
             f'{threshold}× the old (for a metric where lower is better: at most 1/{threshold} '
             'of it).', '',
             '| scenario | server | metric | new | old | new ÷ old | per repetition | '
             'p99 new ÷ old | holds |',
             '|---|---|---|---:|---:|---:|---:|---:|---|']
    for scenario in out.scenarios:
        kind = KINDS[SCENARIOS[scenario].kind]
        show = fmt.METRIC[kind.metric]
        for new, spec in out.specs.items():
            old = f'{new}@{out.baseline}'
            if spec.ref or old not in out.specs:
                continue
            a = out.summary.get(new, {}).get(scenario, {})
            b = out.summary.get(old, {}).get(scenario, {})
            if not a or not b:
                continue
            r = fmt.ratio(a.get(kind.metric), b.get(kind.metric))
            ratio = '-' if r is None else f'{r:.3f}×'
            paired = [fmt.ratio(x.get(kind.metric), y.get(kind.metric)) for x, y in
                      zip(out.results[(new, scenario)], out.results[(old, scenario)])]
            paired = [p for p in paired if p is not None]
            spread = f'{min(paired):.3f} – {max(paired):.3f}' if paired else '-'
            holds = None if r is None else (r >= threshold if kind.higher_is_better
                                            else r <= 1 / threshold)
            p99 = (fmt.times(fmt.ratio(a.get('p99_ms'), b.get('p99_ms')))
                   if SCENARIOS[scenario].latency and 'p99_ms' in a else '')
            lines.append(f"| {scenario} | {new} | {kind.metric} | {show(a.get(kind.metric))} | "
                         f"{show(b.get(kind.metric))} | {ratio} | {spread} | {p99} | "
                         f"{'n/a' if holds is None else ('yes' if holds else '**no**')} |")
    return lines + ['']


def versions():
    found = {}
    for package in ['rhc', *PACKAGES]:
        try:
            found[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            found[package] = 'not installed'
    return ', '.join(f'{k} {v}' for k, v in found.items())


def machine(out):
    model = '?'
    try:
        with open('/proc/cpuinfo') as f:
            model = next((line.split(':', 1)[1].strip() for line in f
                          if line.startswith('model name')), '?')
    except OSError:
        pass
    s = out.settings
    lines = [f'- nproc: {os.cpu_count()}; CPU: {model}',
             f'- Python {platform.python_version()} ({sys.executable}), kernel '
             f'{platform.release()}, {wrk.version()}',
             f'- server pinned with `taskset -c {SERVER_CPU}` (the unpinned ones, in `workers`: '
             f'`taskset -c {EVERY_CPU}`); the load generator (wrk, the idle '
             f'client), the harness and the gateway\'s nginx backend with `taskset -c {LOAD_CPU}`; '
             '127.0.0.1',
             f'- wrk `-t1 -cN -d{s["duration"]}s --latency` (N in each scenario\'s title), '
             f'{s["warmup"]}s warm-up first, a fresh server process per run; '
             f'{s["repeat"]} interleaved repetition(s) (scenario by scenario, the server order '
             'reversed every other repetition), medians shown',
             '- peak RSS: the sum of VmHWM over the server process tree (gunicorn and nginx: '
             'master + worker), read at the end of the run. An idle `python -c pass` peaks at '
             f'{fmt.mib(python_startup_kib())} here ({fmt.mib(python_startup_kib("-S"))} with '
             '`-S`: the rest is what site-packages `.pth` files import at startup, in every '
             'Python server alike)',
             '- other load: the share of both CPUs taken during the measured run by anything but '
             'the server, wrk and the backend (other processes, hypervisor steal); medians; '
             f'above {DISTURBED_PCT:.0f}% a run is disturbed']
    if 'startup' in out.scenarios:
        lines.append(f'- startup: {s["starts"]} starts per repetition, each polled every 2 ms '
                     'from just before exec until GET /test/ping answers 200')
    return lines


def render(out):
    lines = ['# rhc benchmark results', '',
             f'Produced by `python bench/run.py {out.command}`'.rstrip() + ' '
             f'on {out.started:%Y-%m-%d %H:%M} UTC in {out.elapsed / 60:.1f} minutes. '
             'Regenerate it with the same command; see bench/README.rst.', '',
             '## Machine', '', *machine(out), '', '## Package versions', '', versions(), '']
    if out.commits:
        lines += ['## rhc under test', '', *[f'- {c}' for c in out.commits], '']
    if out.summary:
        rows = targets.evaluate(out.summary, set(out.specs))
        if out.client_summary:
            rows += targets.evaluate_client(out.client_summary)
        if rows:
            lines += ['## Targets', '', *targets_table(rows)]
        if any(met is False for _, _, met in rows):
            lines += ['For a target not met, `bench/PROFILE.md` shows where rhc\'s time goes '
                      '(CPU per request, syscalls, a sampled profile, the Python path by stage) '
                      'and what remains.', '']
        if out.baseline:
            lines += ab_table(out)
        lines += peer_ratios(out)
        lines += ['## Servers', '']
        lines += [f'- **{n}**: {spec.description}' for n, spec in out.specs.items()]
        lines.append('')
        for name in out.scenarios:
            lines += scenario_table(out, name)
    elif not out.client_summary:
        lines.append('(nothing was measured)')
    if out.client_summary:
        lines += client_tables(out.client_summary, out.client_meta,
                               None if out.summary else targets.evaluate_client(out.client_summary))
    lines += ['## Notes', '']
    lines += [f'- {n}' for n in out.notes] or ['- none: everything started and answered correctly']
    lines += [f'- {n}' for n in standing_notes(out)]
    return '\n'.join(lines) + '\n'


def standing_notes(out):
    ran = set(out.summary)
    notes = []
    if 'bare-selectors' in ran:
        notes.append('bare-selectors answers every request with the same canned '
                     '`{"ping":"pong"}` (it does not echo, nor route): a floor, not a peer')
    if 'flask-gunicorn' in ran:
        notes.append('gunicorn\'s sync worker does not keep connections alive (it answers '
                     '`Connection: close`), so flask-gunicorn reconnects for every request')
    if 'pipelined' in out.scenarios:
        notes.append('pipelined: no p99, because wrk times a pipelined batch, not each request '
                     'in it (some servers show 0 µs)')
    if 'logged' in out.scenarios:
        notes.append('logged: rhc with its launcher defaults (INFO, one line per request on '
                     'stderr); aiohttp with `logging.basicConfig(level=INFO)` and run_app\'s '
                     'default access logger (stderr); uvicorn without `--no-access-log` (its '
                     'default access log, stdout); tornado with `enable_pretty_logging()` and the '
                     'default log_function (stderr); gunicorn with `--access-logfile -` (stdout). '
                     'Every server\'s output goes to a file under /tmp')
    if any(SCENARIOS[s].backend for s in out.scenarios):
        notes.append('gateway: the backend is one nginx worker answering `return 200` from '
                     'memory (keepalive_requests 1000000), pinned beside wrk; "backend '
                     'connections" is what nginx\'s stub_status counted as accepted from the '
                     'server over its whole life (check, warm-up and measured run). aiohttp '
                     'and starlette share one client per process, its pool allowed 100 '
                     'connections (httpx\'s default keeps only 20 alive)')
    return notes


def client_tables(client_summary, meta, target_rows):
    lines = ['## Client', '',
             f"Against one fixed server: {meta['server']} (pinned to CPU {SERVER_CPU}); each client "
             f"in its own process pinned to CPU {LOAD_CPU}, GET /test/ping with the JSON decoded, "
             f"{meta['duration']}s per run after a warm-up, {meta['repeat']} interleaved "
             f"repetition(s), medians shown. In flight: {meta['inflight']} concurrent calls.", '',
             '| client | sequential keep-alive (calls/s) | rhc ÷ this | 50 in flight (calls/s) | rhc ÷ this |',
             '|---|---:|---:|---:|---:|']
    clients = list(dict.fromkeys(client for client, _mode in client_summary))
    rseq, rin = client_summary.get(('rhc', 'sequential')), client_summary.get(('rhc', 'inflight'))
    for client in clients:
        seq = client_summary.get((client, 'sequential'))
        inf = client_summary.get((client, 'inflight'))
        lines.append(f"| {'**rhc**' if client == 'rhc' else client} | {fmt.rate(seq)} | "
                     f"{'' if client == 'rhc' else fmt.times(fmt.ratio(rseq, seq))} | "
                     f"{fmt.rate(inf)} | "
                     f"{'' if client == 'rhc' else fmt.times(fmt.ratio(rin, inf))} |")
    lines.append('')
    seq_h, inf_h = client_summary.get(('httpx', 'sequential')), client_summary.get(('httpx', 'inflight'))
    if seq_h and inf_h and inf_h < seq_h:
        lines += ['httpx\'s AsyncClient is slower with 50 in flight than its sync Client one at a '
                  'time: a known limitation of its connection pool under concurrency '
                  '(encode/httpx issue 3215), not a fault of the harness.', '']
    if target_rows:
        lines += targets_table(target_rows)
    return lines
