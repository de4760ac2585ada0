"""The targets the report judges: one table, one entry per target.

A target compares one metric of one server (`rhc`, or `rhc*`: every rhc
flavour of the working tree, one row each) in one scenario (or the largest
over several) with a peer's value, the same server's value in another
scenario, or a constant. A target whose numbers are missing is `n/a`, and a
row only appears when its scenario was run.
"""
import dataclasses
import operator

import fmt
from lineup import CLASSIC, GATEWAY, SERVERS

SAME = 'the same server'
OPS = {'>=': operator.ge, '<=': operator.le, '<': operator.lt}
SYMBOL = {'>=': '≥', '<=': '≤', '<': '<'}


@dataclasses.dataclass(frozen=True)
class Target:
    label: str                 # {server} is replaced by the server's name
    scenario: object           # a name, or a tuple: the largest value over those
    metric: str
    op: str = '>='
    factor: float = 1.0        # value op factor × reference
    peer: str = None           # the reference: a server (or SAME) ...
    peer_scenario: str = None  # ... in this scenario (default: the same one)
    limit: float = None        # ... or a constant
    server: str = 'rhc'
    show: str = 'ratio'        # 'ratio' (or 'percent'): value ÷ reference; 'values': both;
                               # 'value': the value alone


def throughput(scenario, factor):
    return Target(f'{scenario}: {{server}} ≥ {factor}× aiohttp req/s', scenario, 'rps',
                  factor=factor, peer='aiohttp')


def p99(scenario, server='rhc'):
    return Target(f'{scenario}: {{server}} p99 ≤ aiohttp p99', scenario, 'p99_ms', op='<=',
                  peer='aiohttp', server=server, show='values')


def gateway(connections):
    scenario = f'gateway-{connections}'
    return [
        Target(f'{scenario}: {{server}} ≥ 2× aiohttp req/s', scenario, 'rps', factor=2.0,
               peer='aiohttp', server='rhc*'),
        p99(scenario, server='rhc*'),
        Target(f'{scenario}: {{server}} backend connections ≤ {connections}', scenario,
               'backend_conns', op='<=', limit=connections, server='rhc*', show='value'),
    ]


TARGETS = [
    throughput('ping', 2.0),
    throughput('users', 2.0),
    throughput('echo', 1.5),
    throughput('close', 1.5),
    *[p99(s) for s in CLASSIC],
    Target('{server} peak RSS < 20 MiB (largest over ping, users, echo, close)', CLASSIC,
           'rss_kib', op='<', limit=20 * 1024, show='value'),
    *gateway(32),
    *gateway(64),
    *[Target(f'{s}: trace propagation costs ≤ 5%: {{server}} ≥ 95% of rhc-conn-untraced '
             'req/s', s, 'rps', factor=0.95, peer='rhc-conn-untraced', server='rhc-conn',
             show='percent') for s in GATEWAY],
    Target('upload: {server} MiB/s ≥ uvicorn-httptools', 'upload', 'mib_s',
           peer='uvicorn-httptools'),
    Target('logged: {server} ≥ 80% of its unlogged req/s (ping)', 'logged', 'rps', factor=0.8,
           peer=SAME, peer_scenario='ping', show='percent'),
    Target('stream: {server} streamed download ≥ 80% of the whole body\'s MiB/s', 'stream',
           'stream_vs_whole', limit=0.8, show='value'),
    Target('sse: {server} RSS per idle SSE client ≤ 20 KiB', 'sse', 'kib_per_conn', op='<=',
           limit=20, show='value'),
    Target('ping: {server} (async def) ≥ 90% of rhc (plain) req/s', 'ping', 'rps', factor=0.9,
           peer='rhc', server='rhc-async', show='percent'),
    *[Target(f'{s}: {{server}} (async def) ≥ 90% of rhc (callbacks) req/s', s, 'rps',
             factor=0.9, peer='rhc', server='rhc-async', show='percent') for s in GATEWAY],
    Target('workers: --workers 2 ≥ 1.5× --workers 1 req/s (ping, unpinned)', 'workers', 'rps',
           factor=1.5, peer='rhc-workers-1', server='rhc-workers-2'),
    Target('workers: the master\'s own CPU < 1% under load (--workers 2)', 'workers',
           'master_cpu_pct', op='<', limit=1.0, server='rhc-workers-2', show='value'),
    Target('metrics: {server} ≥ 95% of its req/s without METRICS (ping)', 'metrics', 'rps',
           factor=0.95, peer=SAME, peer_scenario='ping', show='percent'),
]

CLIENT_TARGET = 1.5


def value(summary, server, scenario, metric):
    """A median from the summary; for a tuple of scenarios, the largest of them."""
    names = scenario if isinstance(scenario, tuple) else (scenario,)
    found = [summary.get(server, {}).get(s, {}).get(metric) for s in names]
    found = [v for v in found if v is not None]
    return max(found) if found else None


def ran(summary, scenario):
    names = scenario if isinstance(scenario, tuple) else (scenario,)
    return any(s in by for by in summary.values() for s in names)


def servers_of(target, summary):
    if target.server != 'rhc*':
        return [target.server]
    return [n for n, spec in SERVERS.items() if spec.rhc and n in summary]


def judge(target, summary, server):
    """(label, measured text, met: True, False or None for n/a)."""
    label = target.label.format(server=server)
    mine = value(summary, server, target.scenario, target.metric)
    show = fmt.METRIC.get(target.metric, fmt.count)
    if target.limit is not None:
        reference = target.limit
    else:
        peer = server if target.peer == SAME else target.peer
        reference = value(summary, peer, target.peer_scenario or target.scenario, target.metric)
    if target.show == 'ratio':
        measured = fmt.times(fmt.ratio(mine, reference))
    elif target.show == 'percent':
        r = fmt.ratio(mine, reference)
        measured = fmt.pct(None if r is None else 100 * r)
    elif target.show == 'values':
        measured = f'{show(mine)} vs {show(reference)}'
    else:
        measured = show(mine)
    if mine is None or reference is None:
        return label, measured, None
    return label, measured, OPS[target.op](mine, target.factor * reference)


def evaluate(summary, selected):
    """[(target, measured, met)] for every target whose scenario ran, with the servers it
    compares among the `selected` ones (a selected server that failed gives n/a)."""
    rows = []
    for target in TARGETS:
        if not ran(summary, target.scenario) or target.peer not in (None, SAME, *selected):
            continue
        rows += [judge(target, summary, server) for server in servers_of(target, summary)
                 if server in selected]
    return rows


def evaluate_client(client_summary):
    rows = []
    for mode in ('sequential', 'inflight'):
        r = fmt.ratio(client_summary.get(('rhc', mode)), client_summary.get(('aiohttp', mode)))
        if r is not None or ('rhc', mode) in client_summary:
            rows.append((f'client {mode}: rhc Connection ≥ {CLIENT_TARGET}× aiohttp ClientSession',
                         fmt.times(r), None if r is None else r >= CLIENT_TARGET))
    return rows
