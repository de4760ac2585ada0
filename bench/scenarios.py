"""The scenarios: one table, and how each kind of scenario is measured.

A scenario of kind `wrk` is a wrk run against a fresh server; `idle` opens
many idle keep-alive connections (or idle event streams) and reads the
server's memory; `startup` times from exec to the first answer;
`download` times large downloads, a streamed body against the same bytes
whole. Every measure function starts its own
servers and returns a list of runs (dicts of numbers), one per measurement.
"""
import dataclasses
import json
import os
import select
import statistics
import subprocess
import sys
import time

import nginx
import wrk
from download import download
from harness import HERE, LOAD_CPU, Server, process_cpu_s

ECHO_BODY = b'x' * 1024
QUOTE_ID = 42
IDLE_SETTLE_S = 1.0     # after the last idle connection, before the RSS is read
SSE_CLIENTS = 1000
STREAM_MIB = 100        # the body of the download scenario (bench/servers/rhc_app/handlers.py)
MIN_DOWNLOADS = 3       # of each body, however short the duration


def json_is(expected):
    """A check that the body is this JSON value."""
    def check(body):
        try:
            return json.loads(body) == expected
        except ValueError:
            return False
    return check


PING_CHECK = ('GET', '/test/ping', None, json_is({'ping': 'pong'}))


@dataclasses.dataclass(frozen=True)
class Scenario:
    name: str
    title: str
    kind: str = 'wrk'              # a key of KINDS
    path: str = '/test/ping'
    connections: int = 64
    lua: str = None                # a wrk script
    check: tuple = PING_CHECK      # (method, path, body, expected bytes or predicate)
    access_log: bool = False       # each server's default access log on
    metrics: bool = False          # rhc serves METRICS (so counts every request)
    backend: bool = False          # needs the nginx backend (the gateway)
    body_bytes: int = 0            # request body size, for a MiB/s column
    columns: tuple = ()            # extra columns in its report table (report.COLUMNS)
    latency: bool = True           # wrk's p99 means something here
    needs: tuple = ()              # scenarios it is compared with, selected with it
    master_cpu: bool = False       # also measure the CPU of the server's first process alone
    clients: int = None            # idle: connections to open (default --idle-connections)


GATEWAY_CHECK = ('GET', f'/quote/{QUOTE_ID}', None, json_is(nginx.quote(QUOTE_ID)))
UPLOAD_CHECK = ('POST', '/upload', b'x' * wrk.UPLOAD_BYTES, json_is({'bytes': wrk.UPLOAD_BYTES}))


def gateway(connections):
    return Scenario(f'gateway-{connections}',
                    f'GET /quote/{QUOTE_ID}, answered with the JSON of a call to an nginx backend '
                    f'over pooled keep-alive connections, {connections} connections',
                    path=f'/quote/{QUOTE_ID}', connections=connections, check=GATEWAY_CHECK,
                    backend=True, columns=('backend_conns',))


SCENARIOS = {s.name: s for s in [
    Scenario('ping', 'GET /test/ping, 64 keep-alive connections'),
    Scenario('users', 'GET /users/42 (int route group), 64 keep-alive connections',
             path='/users/42', check=('GET', '/users/42', None, json_is({'id': 42, 'name': 'user42'}))),
    Scenario('echo', 'POST /echo with a 1 KiB body, 64 keep-alive connections', path='/echo',
             lua=wrk.LUA_POST, check=('POST', '/echo', ECHO_BODY, ECHO_BODY)),
    Scenario('close', 'GET /test/ping with `Connection: close`, 16 connections', connections=16,
             lua=wrk.LUA_CLOSE),
    Scenario('logged', 'ping with each server\'s default access log on, written to a file, '
             '64 keep-alive connections', access_log=True, columns=('vs_unlogged',),
             needs=('ping',)),
    Scenario('metrics', 'ping with `METRICS /metrics` in rhc\'s micro file, so every request '
             'is counted, 64 keep-alive connections', metrics=True, columns=('vs_ping',),
             needs=('ping',)),
    Scenario('pipelined', f'GET /test/ping, {wrk.PIPELINE_DEPTH} requests per write, '
             '64 keep-alive connections', lua=wrk.LUA_PIPELINE, latency=False),
    gateway(32),
    gateway(64),
    Scenario('upload', 'POST /upload with a 10 MiB body, answered with its length, '
             '4 keep-alive connections', path='/upload', connections=4, lua=wrk.LUA_UPLOAD,
             check=UPLOAD_CHECK, body_bytes=wrk.UPLOAD_BYTES, columns=('mib_s',)),
    Scenario('workers', 'GET /test/ping, 64 keep-alive connections, rhc under a master with '
             'N workers, unpinned (wrk, on CPU 1, takes part of a core)',
             columns=('master_cpu', 'vs_one_worker'), master_cpu=True),
    Scenario('idle', 'RSS per idle keep-alive connection: many connections, each after one '
             'GET /test/ping', kind='idle'),
    Scenario('startup', 'time from exec to the first answered GET /test/ping', kind='startup'),
    Scenario('stream', f'download rate of a {STREAM_MIB} MiB body: a generator of 64 KiB chunks '
             '(rhc.Stream, chunked) against the same bytes returned whole, one connection, '
             'alternating', kind='download', path='/stream/generator'),
    Scenario('sse', f'RSS per idle SSE client: {SSE_CLIENTS:,} event streams, each idle after '
             'its first event', kind='idle', path='/stream/events', clients=SSE_CLIENTS),
]}


def select_scenarios(words):
    """Scenario names for `--scenarios`: a name, or a family (`gateway` = gateway-32, -64)."""
    chosen, unknown = [], []
    for word in words:
        found = [n for n in SCENARIOS if n == word or n.startswith(word + '-')]
        chosen += [n for n in found if n not in chosen]
        if not found:
            unknown.append(word)
    for name in list(chosen):
        chosen += [n for n in SCENARIOS[name].needs if n not in chosen]
    return [n for n in SCENARIOS if n in chosen], unknown


class Context:
    """What every measurement shares: settings, the backend, the notes of the run."""

    def __init__(self, duration, warmup, script_dir, idle_connections, starts, backend=None):
        self.duration = duration
        self.warmup = warmup
        self.script_dir = script_dir
        self.idle_connections = idle_connections
        self.starts = starts
        self.backend = backend
        self.first = True       # the first repetition: check every server's answers
        self.notes = []

    def note(self, text):
        self.notes.append(text)
        print(f'  !! {text}', flush=True)

    def server(self, spec, scenario):
        env = {}
        if scenario.backend:
            env = {'BENCH_BACKEND_URL': self.backend.url,
                   'CONNECTION_BACKEND_URL': self.backend.url}
        return Server(spec, access_log=scenario.access_log, env=env, metrics=scenario.metrics)

    def check(self, server, scenario):
        if self.first and server.spec.checked:
            problem = server.check(*scenario.check)
            if problem:
                self.note(f'{server.name} answers wrongly in {scenario.name}: {problem}')


def measure_wrk(spec, scenario, ctx):
    with ctx.server(spec, scenario) as server:
        server.start()
        accepted = ctx.backend.accepted() if scenario.backend else None
        ctx.check(server, scenario)
        args = (server.port, scenario.path, scenario.connections)
        if ctx.warmup:
            wrk.run(*args, ctx.warmup, scenario.lua, ctx.script_dir)
        own = [server.proc.pid] + ([ctx.backend.proc.pid] if scenario.backend else [])
        master_before, started = process_cpu_s(server.proc.pid), time.monotonic()
        run = wrk.run(*args, ctx.duration, scenario.lua, ctx.script_dir, own_pids=own)
        if scenario.master_cpu:
            # The master (the launched process itself; its workers are its children),
            # as a share of one CPU over the measured run.
            master_after, elapsed = process_cpu_s(server.proc.pid), time.monotonic() - started
            if master_before is not None and master_after is not None:
                run['master_cpu_pct'] = 100 * (master_after - master_before) / elapsed
        run['rss_kib'] = server.peak_rss_kib()
        if scenario.backend:
            run['backend_conns'] = ctx.backend.accepted() - accepted
        if scenario.body_bytes:
            run['mib_s'] = run['rps'] * scenario.body_bytes / (1024 * 1024)
        if not server.alive():
            ctx.note(f'{spec.name} died during {scenario.name}: {server.output()}')
        if run['errors'] or run['non2xx']:
            ctx.note(f'{spec.name} {scenario.name}: {run["errors"]} socket errors '
                     f'(connect/write/timeout), {run["non2xx"]} non-2xx responses')
    return [run]


def read_json_line(proc, timeout):
    ready, _, _ = select.select([proc.stdout], [], [], timeout)
    if not ready:
        raise RuntimeError(f'the idle client said nothing within {timeout:.0f}s')
    line = proc.stdout.readline()
    if not line:
        raise RuntimeError(f'the idle client exited: {proc.stderr.read()[-800:]}')
    return json.loads(line)


def measure_idle(spec, scenario, ctx):
    count = scenario.clients or ctx.idle_connections
    with ctx.server(spec, scenario) as server:
        server.start()
        ctx.check(server, scenario)
        before = server.rss_kib()
        client = subprocess.Popen(['taskset', '-c', LOAD_CPU, sys.executable,
                                   os.path.join(HERE, 'idle_client.py'), str(server.port),
                                   str(count), scenario.path],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True)
        try:
            opened = read_json_line(client, 180)
            time.sleep(IDLE_SETTLE_S)
            after = server.rss_kib()
            client.stdin.write('done\n')
            client.stdin.flush()
            closed = read_json_line(client, 60)
        finally:
            if client.poll() is None:
                client.kill()
            client.wait()
        run = {'rss_before_kib': before, 'rss_after_kib': after, 'rss_kib': server.peak_rss_kib(),
               'opened': opened['opened'], 'failed': opened['failed'],
               'open_s': opened['seconds'], 'closed_by_server': closed['closed_by_server']}
    if opened['opened']:
        run['kib_per_conn'] = (after - before) / opened['opened']
    if opened['failed'] or closed['closed_by_server']:
        ctx.note(f"{spec.name} idle: {opened['failed']} of {count} connections failed, "
                 f"{closed['closed_by_server']} closed by the server while idle")
    return [run]


def measure_startup(spec, scenario, ctx):
    runs = []
    for _ in range(ctx.starts):
        with ctx.server(spec, scenario) as server:
            # Poll finely: the first answer is what is timed (every start pays the same taskset).
            runs.append({'startup_ms': server.start(poll=0.002) * 1000,
                         'rss_kib': server.peak_rss_kib()})
            ctx.check(server, scenario)
    return runs


def measure_download(spec, scenario, ctx):
    """Downloads of the streamed body and of the whole one, alternating, for the run's
    duration (at least MIN_DOWNLOADS of each): the median MiB/s of each, and their ratio."""
    paths = {'stream': scenario.path, 'whole': '/stream/whole'}
    size = STREAM_MIB * 1024 * 1024
    rates = {kind: [] for kind in paths}
    with ctx.server(spec, scenario) as server:
        server.start()
        for kind, path in paths.items():      # warm: the whole body is made on first use
            received, _ = download(server.port, path)
            if received < size:
                raise RuntimeError(f'{spec.name} {path}: {received:,} bytes, not {size:,}')
        deadline = time.monotonic() + ctx.duration
        while time.monotonic() < deadline or min(map(len, rates.values())) < MIN_DOWNLOADS:
            for kind, path in paths.items():
                received, seconds = download(server.port, path)
                if received < size:
                    raise RuntimeError(f'{spec.name} {path}: cut short at {received:,} bytes')
                rates[kind].append(size / (1024 * 1024) / seconds)
        rss = server.peak_rss_kib()
    stream, whole = statistics.median(rates['stream']), statistics.median(rates['whole'])
    return [{'stream_mib_s': stream, 'whole_mib_s': whole, 'stream_vs_whole': stream / whole,
             'downloads': len(rates['stream']) + len(rates['whole']), 'rss_kib': rss}]


@dataclasses.dataclass(frozen=True)
class Kind:
    measure: object
    metric: str                   # the number the kind is judged by
    higher_is_better: bool


KINDS = {
    'wrk': Kind(measure_wrk, 'rps', True),
    'idle': Kind(measure_idle, 'kib_per_conn', False),
    'startup': Kind(measure_startup, 'startup_ms', False),
    'download': Kind(measure_download, 'stream_vs_whole', True),
}


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None
