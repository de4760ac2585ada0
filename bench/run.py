"""The rhc benchmark harness: rhc's server (and client) against its peers, with wrk.

    python bench/run.py [--duration S] [--repeat N] [--only rhc,aiohttp] [--quick]
                        [--client | --no-client] [--install] [--output FILE]

Each server runs as one process tree pinned to CPU 0 (`taskset -c 0`); wrk runs
pinned to CPU 1 (`taskset -c 1 wrk -t1 -c64 -dS --latency`). Every (server,
scenario) gets a fresh server process, a short wrk warm-up, then the measured
run; peak RSS is the sum of VmHWM over the server's process tree, read just
before it is stopped. Repetitions are interleaved (rep 1: every server, rep 2:
every server ...) and the medians are reported. The results are printed and
written to bench/RESULTS.md. See bench/README.rst.
"""
import argparse
import datetime
import http.client
import importlib.metadata
import json
import os
import platform
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
SERVERS_DIR = os.path.join(HERE, 'servers')
SERVER_CPU = '0'
LOAD_CPU = '1'
ECHO_BODY = b'x' * 1024

# -- scenarios -----------------------------------------------------------------

LUA_POST = """wrk.method = "POST"
wrk.body = string.rep("x", 1024)
wrk.headers["Content-Type"] = "application/octet-stream"
"""
LUA_CLOSE = """wrk.headers["Connection"] = "close"
"""

# name -> (title, path, connections, lua script or None)
SCENARIOS = {
    'ping': ('GET /test/ping, 64 keep-alive connections', '/test/ping', 64, None),
    'users': ('GET /users/42 (int route group), 64 keep-alive connections', '/users/42', 64, None),
    'echo': ('POST /echo with a 1 KiB body, 64 keep-alive connections', '/echo', 64, LUA_POST),
    'close': ('GET /test/ping with `Connection: close`, 16 connections', '/test/ping', 16, LUA_CLOSE),
}

# -- servers -----------------------------------------------------------------


def _py(*args):
    return [sys.executable, *args]


# name -> (description, command builder (port -> argv), environment builder, checked?)
SERVERS = {
    'rhc': (
        'rhc (python -m rhc.launch, --no-access-log --log-level WARNING)',
        lambda port: _py('-m', 'rhc.launch', os.path.join(SERVERS_DIR, 'rhc_app', 'service.micro'),
                         '--no-access-log', '--log-level', 'WARNING', '--grace', '1'),
        lambda port: {'SERVER_BENCH_PORT': str(port)},
        True),
    'aiohttp': (
        'aiohttp web.run_app (C parser, access_log=None)',
        lambda port: _py(os.path.join(SERVERS_DIR, 'aiohttp_app.py'), str(port)),
        None, True),
    'uvicorn-httptools': (
        'starlette on uvicorn --loop uvloop --http httptools --no-access-log',
        lambda port: _py('-m', 'uvicorn', 'starlette_app:app', '--app-dir', SERVERS_DIR,
                         '--host', '127.0.0.1', '--port', str(port), '--loop', 'uvloop',
                         '--http', 'httptools', '--no-access-log', '--log-level', 'warning'),
        None, True),
    'uvicorn-h11': (
        'starlette on uvicorn --loop asyncio --http h11 --no-access-log',
        lambda port: _py('-m', 'uvicorn', 'starlette_app:app', '--app-dir', SERVERS_DIR,
                         '--host', '127.0.0.1', '--port', str(port), '--loop', 'asyncio',
                         '--http', 'h11', '--no-access-log', '--log-level', 'warning'),
        None, True),
    'tornado': (
        'tornado Application (log_function does nothing)',
        lambda port: _py(os.path.join(SERVERS_DIR, 'tornado_app.py'), str(port)),
        None, True),
    'flask-gunicorn': (
        'flask on gunicorn -k sync -w 1 (no access log)',
        lambda port: _py('-m', 'gunicorn', '--chdir', SERVERS_DIR, '-k', 'sync', '-w', '1',
                         '-b', f'127.0.0.1:{port}', '--log-level', 'warning', 'flask_app:app'),
        None, True),
    'bare-selectors': (
        'bare selectors loop, canned reply, no parsing (a floor reference)',
        lambda port: _py(os.path.join(SERVERS_DIR, 'bare_selectors.py'), str(port)),
        None, False),
}

PACKAGES = ['aiohttp', 'uvicorn', 'httptools', 'uvloop', 'starlette', 'tornado', 'flask',
            'gunicorn', 'httpx', 'requests', 'h11']

# -- targets ---------------------------------------------------------------------

THROUGHPUT_TARGETS = {'ping': 2.0, 'users': 2.0, 'echo': 1.5, 'close': 1.5}
RSS_LIMIT_MIB = 20.0
CLIENT_TARGET = 1.5
DISTURBED_PCT = 10.0


# -- helpers -----------------------------------------------------------------------


def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def request(port, method, path, body=None, timeout=2.0):
    """(status, body bytes) of one request, or raise OSError."""
    conn = http.client.HTTPConnection('127.0.0.1', port, timeout=timeout)
    try:
        headers = {'Content-Type': 'application/octet-stream'} if body is not None else {}
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def children_map():
    """{ppid: [pid, ...]} from /proc."""
    kids = {}
    for name in os.listdir('/proc'):
        if not name.isdigit():
            continue
        try:
            with open(f'/proc/{name}/stat') as f:
                stat = f.read()
        except OSError:
            continue
        ppid = int(stat[stat.rfind(')') + 2:].split()[1])
        kids.setdefault(ppid, []).append(int(name))
    return kids


def process_tree(pid):
    kids = children_map()
    tree, todo = [], [pid]
    while todo:
        p = todo.pop()
        tree.append(p)
        todo.extend(kids.get(p, []))
    return tree


def peak_rss_kib(pid):
    """The sum of VmHWM (peak resident set) over the process tree rooted at pid."""
    total = 0
    for p in process_tree(pid):
        try:
            with open(f'/proc/{p}/status') as f:
                for line in f:
                    if line.startswith('VmHWM:'):
                        total += int(line.split()[1])
                        break
        except OSError:
            pass
    return total


CLK_TCK = os.sysconf('SC_CLK_TCK')


def machine_busy_s():
    """CPU seconds spent busy by the whole machine (all CPUs), steal included.

    irq and softirq time are left out: loopback TCP is processed there, on
    behalf of the server and wrk, without being charged to either process.
    """
    with open('/proc/stat') as f:
        fields = f.readline().split()[1:]
    user, nice, system, _idle, _iowait, _irq, _softirq, steal = (int(x) for x in fields[:8])
    return (user + nice + system + steal) / CLK_TCK


def tree_cpu_s(pid):
    """CPU seconds used so far by the live processes of the tree rooted at pid."""
    total = 0
    for p in process_tree(pid):
        try:
            with open(f'/proc/{p}/stat') as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rfind(')') + 2:].split()
        total += int(fields[11]) + int(fields[12])
    return total / CLK_TCK


def children_cpu_s():
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


class Server:
    """One peer's process tree, pinned to SERVER_CPU."""

    def __init__(self, name):
        self.name = name
        self.description, command, environment, self.checked = SERVERS[name]
        self.port = free_port()
        self.argv = ['taskset', '-c', SERVER_CPU, *command(self.port)]
        self.env = dict(os.environ)
        self.env['PYTHONPATH'] = os.pathsep.join(filter(None, [ROOT, os.environ.get('PYTHONPATH')]))
        if environment:
            self.env.update(environment(self.port))
        self.log = tempfile.TemporaryFile()
        self.proc = None

    def start(self, timeout=20.0):
        self.proc = subprocess.Popen(self.argv, env=self.env, cwd=SERVERS_DIR,
                                     stdout=self.log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f'{self.name} exited with {self.proc.returncode}: {self.output()}')
            try:
                status, _ = request(self.port, 'GET', '/test/ping', timeout=1.0)
                if status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f'{self.name} did not answer on port {self.port} within {timeout:.0f}s: '
                           f'{self.output()}')

    def check(self):
        """Problems with the answers to the three requests (empty when all is well)."""
        if not self.checked:
            return []
        problems = []
        expected = [('GET', '/test/ping', None, {'ping': 'pong'}),
                    ('GET', '/users/42', None, {'id': 42, 'name': 'user42'}),
                    ('POST', '/echo', ECHO_BODY, ECHO_BODY)]
        for method, path, body, want in expected:
            try:
                status, got = request(self.port, method, path, body)
            except OSError as e:
                problems.append(f'{method} {path}: {e}')
                continue
            if isinstance(want, dict):
                try:
                    got = json.loads(got)
                except ValueError:
                    pass
            if status != 200 or got != want:
                problems.append(f'{method} {path}: {status} {got!r:.80}')
        return problems

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def peak_rss_kib(self):
        return peak_rss_kib(self.proc.pid) if self.alive() else None

    def stop(self):
        if self.proc is None:
            return
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.proc.wait()
        else:
            self.proc.wait()

    def output(self):
        self.log.seek(0)
        return self.log.read().decode('utf-8', 'replace')[-1500:].strip()


# -- wrk -----------------------------------------------------------------------------


def ensure_wrk(install):
    if shutil.which('wrk'):
        return True
    if install and os.geteuid() == 0:
        print('wrk is missing: apt-get update && apt-get install -y wrk', flush=True)
        subprocess.run(['apt-get', 'update'], check=False)
        subprocess.run(['apt-get', 'install', '-y', 'wrk'], check=False)
        if shutil.which('wrk'):
            return True
    print('wrk is not installed. Install it with:  apt-get install -y wrk\n'
          '(or run this harness as root with --install to have it do that)', file=sys.stderr)
    return False


UNITS = {'us': 1e-3, 'ms': 1.0, 's': 1000.0, 'm': 60000.0}


def to_ms(text):
    for unit in ('us', 'ms', 's', 'm'):
        if text.endswith(unit):
            try:
                return float(text[:-len(unit)]) * UNITS[unit]
            except ValueError:
                continue
    return None


def parse_wrk(output):
    """{'rps', 'p99_ms', 'p50_ms', 'requests', 'errors', 'non2xx'} from wrk --latency output."""
    result = {'rps': None, 'p99_ms': None, 'p50_ms': None, 'requests': None, 'errors': 0,
              'non2xx': 0}
    for line in output.splitlines():
        words = line.split()
        if not words:
            continue
        if words[0] == 'Requests/sec:':
            result['rps'] = float(words[1])
        elif words[0] == '99%' and len(words) > 1:
            result['p99_ms'] = to_ms(words[1])
        elif words[0] == '50%' and len(words) > 1:
            result['p50_ms'] = to_ms(words[1])
        elif len(words) > 1 and words[1] == 'requests' and words[0].isdigit():
            result['requests'] = int(words[0])
        elif line.strip().startswith('Socket errors:'):
            # Socket errors: connect 0, read 0, write 0, timeout 0
            for part in line.split(':', 1)[1].split(','):
                kind, _, count = part.strip().partition(' ')
                if kind != 'read':   # a read error is how wrk sees a server closing
                    result['errors'] += int(count)
        elif line.strip().startswith('Non-2xx or 3xx responses:'):
            result['non2xx'] = int(line.split(':')[1])
    return result


def run_wrk(port, scenario, duration, script_dir, server_pid=None):
    _, path, connections, lua = SCENARIOS[scenario]
    argv = ['taskset', '-c', LOAD_CPU, 'wrk', '-t1', f'-c{connections}', f'-d{duration}s',
            '--latency']
    if lua is not None:
        script = os.path.join(script_dir, f'{scenario}.lua')
        with open(script, 'w') as f:
            f.write(lua)
        argv += ['-s', script]
    argv.append(f'http://127.0.0.1:{port}{path}')
    before = (time.monotonic(), machine_busy_s(), children_cpu_s(),
              tree_cpu_s(server_pid) if server_pid else 0.0)
    done = subprocess.run(argv, capture_output=True, text=True, timeout=duration + 30)
    after = (time.monotonic(), machine_busy_s(), children_cpu_s(),
             tree_cpu_s(server_pid) if server_pid else 0.0)
    parsed = parse_wrk(done.stdout)
    # What the rest of the machine took meanwhile (other processes, steal), as a
    # share of all CPUs: a sign that the numbers of this run are disturbed.
    elapsed, busy, wrk_cpu, server_cpu = (b - a for a, b in zip(before, after))
    other = max(0.0, busy - wrk_cpu - server_cpu)
    parsed['other_cpu_pct'] = 100.0 * other / (elapsed * (os.cpu_count() or 1)) if elapsed else None
    if parsed['rps'] is None:
        raise RuntimeError(f'wrk failed: {done.stdout} {done.stderr}'.strip())
    return parsed


# -- the run ---------------------------------------------------------------------------


def bench_servers(names, scenarios, duration, repeat, warmup, notes):
    """{server: {scenario: [run, ...]}} with each run a parse_wrk dict plus 'rss_kib'."""
    results = {name: {s: [] for s in scenarios} for name in names}
    failed = set()
    script_dir = tempfile.mkdtemp(prefix='rhc-bench-')
    total = len(names) * len(scenarios) * repeat
    count = 0
    for rep in range(1, repeat + 1):
        for name in names:
            if name in failed:
                continue
            for scenario in scenarios:
                count += 1
                server = Server(name)
                try:
                    server.start()
                except RuntimeError as e:
                    notes.append(f'{name} failed to start (rep {rep}): {e}')
                    print(f'  !! {name} failed to start: {e}', flush=True)
                    failed.add(name)
                    break
                try:
                    if rep == 1 and scenario == scenarios[0]:
                        for problem in server.check():
                            notes.append(f'{name} answers wrongly: {problem}')
                            print(f'  !! {name} answers wrongly: {problem}', flush=True)
                    if warmup:
                        run_wrk(server.port, scenario, warmup, script_dir)
                    run = run_wrk(server.port, scenario, duration, script_dir, server.proc.pid)
                    run['rss_kib'] = server.peak_rss_kib()
                    if not server.alive():
                        notes.append(f'{name} died during {scenario} (rep {rep}): {server.output()}')
                    if run['errors'] or run['non2xx']:
                        notes.append(f'{name} {scenario} rep {rep}: {run["errors"]} socket errors '
                                     f'(connect/write/timeout), {run["non2xx"]} non-2xx responses')
                    results[name][scenario].append(run)
                    print(f'[{count}/{total}] rep {rep} {name:<18} {scenario:<6} '
                          f'{run["rps"]:>10,.0f} req/s  p99 {fmt_ms(run["p99_ms"]):>9}  '
                          f'rss {fmt_mib(run["rss_kib"])}  other load {run["other_cpu_pct"]:.0f}%',
                          flush=True)
                except (RuntimeError, subprocess.TimeoutExpired) as e:
                    notes.append(f'{name} {scenario} rep {rep}: {e}')
                    print(f'  !! {name} {scenario}: {e}', flush=True)
                finally:
                    server.stop()
    shutil.rmtree(script_dir, ignore_errors=True)
    loads = [r.get('other_cpu_pct') or 0.0 for by in results.values() for runs in by.values()
             for r in runs]
    disturbed = [x for x in loads if x > DISTURBED_PCT]
    if disturbed:
        notes.append(f'{len(disturbed)} of {len(loads)} runs were disturbed: other processes (or '
                     f'steal) took more than {DISTURBED_PCT:.0f}% of the machine meanwhile '
                     f'(at most {max(disturbed):.0f}%); their numbers are less trustworthy')
    return results


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def summarize(results):
    """{server: {scenario: {'rps', 'p99_ms', 'rss_kib', 'min', 'max', 'n'}}}"""
    summary = {}
    for name, by_scenario in results.items():
        summary[name] = {}
        for scenario, runs in by_scenario.items():
            if not runs:
                continue
            rps = [r['rps'] for r in runs]
            summary[name][scenario] = {
                'rps': median(rps), 'min': min(rps), 'max': max(rps), 'n': len(runs),
                'p99_ms': median([r['p99_ms'] for r in runs]),
                'rss_kib': median([r['rss_kib'] for r in runs]),
                'other_cpu_pct': median([r.get('other_cpu_pct') for r in runs]),
            }
    return summary


def fmt_ms(ms):
    if ms is None:
        return '-'
    return f'{ms * 1000:.0f} µs' if ms < 1 else f'{ms:.2f} ms'


def fmt_mib(kib):
    return '-' if kib is None else f'{kib / 1024:.1f} MiB'


def fmt_pct(p):
    return '-' if p is None else f'{p:.0f}%'


def fmt_ratio(r):
    return '-' if r is None else f'{r:.2f}×'


def ratio(a, b):
    return a / b if a and b else None


# -- the report ---------------------------------------------------------------------------


def machine():
    model = '?'
    try:
        with open('/proc/cpuinfo') as f:
            for line in f:
                if line.startswith('model name'):
                    model = line.split(':', 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        wrk = subprocess.run(['wrk', '-v'], capture_output=True, text=True).stdout.split('\n')[0]
        wrk = ' '.join(wrk.split()[:2])
    except OSError:
        wrk = '?'
    return {'nproc': os.cpu_count(), 'cpu': model, 'python': platform.python_version(),
            'kernel': platform.release(), 'wrk': wrk,
            'startup_kib': python_startup_kib(), 'startup_nosite_kib': python_startup_kib('-S')}


def python_startup_kib(*flags):
    """Peak RSS of an interpreter that does nothing: the floor under every Python server."""
    code = ("print(next(l.split()[1] for l in open('/proc/self/status') "
            "if l.startswith('VmHWM')))")
    try:
        done = subprocess.run([sys.executable, *flags, '-c', code], capture_output=True, text=True,
                              timeout=30)
        return int(done.stdout.strip())
    except (OSError, ValueError, subprocess.TimeoutExpired):
        return None


def versions():
    found = {}
    for package in ['rhc', *PACKAGES]:
        try:
            found[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            found[package] = 'not installed'
    return found


def server_tables(summary, names, scenarios):
    lines = []
    for scenario in scenarios:
        title = SCENARIOS[scenario][0]
        rhc = summary.get('rhc', {}).get(scenario)
        lines += [f'### {scenario}: {title}', '',
                  '| server | req/s (median) | min – max | p99 | peak RSS | rhc ÷ this | other load |',
                  '|---|---:|---:|---:|---:|---:|---:|']
        rows = [(n, summary[n][scenario]) for n in names if scenario in summary.get(n, {})]
        rows.sort(key=lambda row: -row[1]['rps'])
        for name, s in rows:
            rel = '' if name == 'rhc' else fmt_ratio(ratio(rhc and rhc['rps'], s['rps']))
            lines.append(f"| {'**rhc**' if name == 'rhc' else name} | {s['rps']:,.0f} | "
                         f"{s['min']:,.0f} – {s['max']:,.0f} | {fmt_ms(s['p99_ms'])} | "
                         f"{fmt_mib(s['rss_kib'])} | {rel} | {fmt_pct(s['other_cpu_pct'])} |")
        missing = [n for n in names if scenario not in summary.get(n, {})]
        if missing:
            lines.append(f"| {', '.join(missing)} | no result | | | | | |")
        lines.append('')
    return lines


def targets(summary, client_summary):
    """[(target, measured, met or None)]"""
    rows = []
    rhc, aio = summary.get('rhc', {}), summary.get('aiohttp', {})
    for scenario, want in THROUGHPUT_TARGETS.items():
        if scenario not in rhc and scenario not in aio:
            continue
        r = ratio(rhc.get(scenario, {}).get('rps'), aio.get(scenario, {}).get('rps'))
        rows.append((f'{scenario}: rhc ≥ {want}× aiohttp req/s',
                     fmt_ratio(r), None if r is None else r >= want))
    for scenario in SCENARIOS:
        if scenario not in rhc and scenario not in aio:
            continue
        a, b = rhc.get(scenario, {}).get('p99_ms'), aio.get(scenario, {}).get('p99_ms')
        rows.append((f'{scenario}: rhc p99 ≤ aiohttp p99', f'{fmt_ms(a)} vs {fmt_ms(b)}',
                     None if a is None or b is None else a <= b))
    peaks = [s['rss_kib'] for s in rhc.values() if s.get('rss_kib')]
    if peaks:
        peak = max(peaks)
        rows.append((f'rhc peak RSS < {RSS_LIMIT_MIB:.0f} MiB (largest over the scenarios)',
                     fmt_mib(peak), peak / 1024 < RSS_LIMIT_MIB))
    if client_summary:
        for mode in ('sequential', 'inflight'):
            r = ratio(client_summary.get(('rhc', mode)), client_summary.get(('aiohttp', mode)))
            if r is not None or ('rhc', mode) in client_summary:
                rows.append((f'client {mode}: rhc Connection ≥ {CLIENT_TARGET}× aiohttp ClientSession',
                             fmt_ratio(r), None if r is None else r >= CLIENT_TARGET))
    return rows


def report(args, names, scenarios, summary, client_summary, client_meta, notes, started, elapsed):
    m = machine()
    lines = ['# rhc benchmark results', '',
             f'Produced by `python bench/run.py {" ".join(sys.argv[1:])}`'.rstrip() + ' '
             f'on {started:%Y-%m-%d %H:%M} UTC in {elapsed / 60:.1f} minutes. '
             f'Regenerate it with the same command; see bench/README.rst.', '',
             '## Machine', '',
             f'- nproc: {m["nproc"]}; CPU: {m["cpu"]}',
             f'- Python {m["python"]}, kernel {m["kernel"]}, {m["wrk"]}',
             f'- server pinned with `taskset -c {SERVER_CPU}`, load generator with '
             f'`taskset -c {LOAD_CPU}`; 127.0.0.1',
             f'- wrk `-t1 -c64 -d{args.duration}s --latency` (16 connections for `close`), '
             f'{args.warmup}s warm-up first, a fresh server process per run; '
             f'{args.repeat} interleaved repetition(s), medians shown',
             '- peak RSS: the sum of VmHWM over the server process tree (gunicorn: master + worker), '
             'read at the end of the run. An idle `python -c pass` peaks at '
             f'{fmt_mib(m["startup_kib"])} here ({fmt_mib(m["startup_nosite_kib"])} with `-S`: '
             'the rest is what site-packages `.pth` files import at startup, in every Python '
             'server alike)',
             '- other load: the share of both CPUs taken during the measured run by anything but '
             'the server and wrk (other processes, hypervisor steal); medians; above '
             f'{DISTURBED_PCT:.0f}% a run is disturbed', '',
             '## Package versions', '',
             ', '.join(f'{k} {v}' for k, v in versions().items()), '']
    if summary:
        lines += ['## Targets', '', '| target | measured | met |', '|---|---|---|']
        rows = targets(summary, client_summary)
        for target, measured, met in rows:
            lines.append(f"| {target} | {measured} | "
                         f"{'n/a' if met is None else ('met' if met else '**not met**')} |")
        lines.append('')
        if any(met is False for _, _, met in rows):
            lines += ['For a target not met, `bench/PROFILE.md` shows where rhc\'s time goes '
                      '(CPU per request, syscalls, a sampled profile, the Python path by stage) '
                      'and what remains.', '']
        lines += ['## rhc ÷ peer (median req/s)', '',
                  '| peer | ' + ' | '.join(scenarios) + ' |',
                  '|---|' + '---:|' * len(scenarios)]
        rhc = summary.get('rhc', {})
        for name in names:
            if name == 'rhc':
                continue
            cells = [fmt_ratio(ratio(rhc.get(s, {}).get('rps'),
                                     summary.get(name, {}).get(s, {}).get('rps')))
                     for s in scenarios]
            lines.append(f'| {name} | ' + ' | '.join(cells) + ' |')
        lines.append('')
        lines += ['## Servers', '']
        lines += [f'- **{n}**: {SERVERS[n][0]}' for n in names]
        lines.append('')
        lines += server_tables(summary, names, scenarios)
    elif not client_summary:
        lines.append('(nothing was measured)')
    if client_summary:
        lines += client_tables(client_summary, client_meta, targets(summary, client_summary)
                               if not summary else None)
    lines += ['## Notes', '']
    lines += [f'- {n}' for n in notes] or ['- none: everything started and answered correctly']
    if summary:
        lines += ['- bare-selectors answers every request with the same canned `{"ping":"pong"}` '
                  '(it does not echo, nor route): a floor, not a peer',
                  '- gunicorn\'s sync worker does not keep connections alive (it answers '
                  '`Connection: close`), so flask-gunicorn reconnects for every request in '
                  'every scenario']
    return '\n'.join(lines) + '\n'


def client_tables(client_summary, meta, target_rows):
    lines = ['## Client', '',
             f"Against one fixed server: {meta['server']} (pinned to CPU {SERVER_CPU}); each client "
             f"in its own process pinned to CPU {LOAD_CPU}, GET /test/ping with the JSON decoded, "
             f"{meta['duration']}s per run after a warm-up, {meta['repeat']} interleaved "
             f"repetition(s), medians shown. In flight: {meta['inflight']} concurrent calls.", '',
             '| client | sequential keep-alive (calls/s) | rhc ÷ this | 50 in flight (calls/s) | rhc ÷ this |',
             '|---|---:|---:|---:|---:|']
    clients = []
    for (client, _mode) in client_summary:
        if client not in clients:
            clients.append(client)
    rseq, rin = client_summary.get(('rhc', 'sequential')), client_summary.get(('rhc', 'inflight'))
    for client in clients:
        seq = client_summary.get((client, 'sequential'))
        inf = client_summary.get((client, 'inflight'))
        lines.append(f"| {'**rhc**' if client == 'rhc' else client} | "
                     f"{'-' if seq is None else f'{seq:,.0f}'} | "
                     f"{'' if client == 'rhc' else fmt_ratio(ratio(rseq, seq))} | "
                     f"{'-' if inf is None else f'{inf:,.0f}'} | "
                     f"{'' if client == 'rhc' else fmt_ratio(ratio(rin, inf))} |")
    lines.append('')
    seq_h, inf_h = client_summary.get(('httpx', 'sequential')), client_summary.get(('httpx', 'inflight'))
    if seq_h and inf_h and inf_h < seq_h:
        lines += ['httpx\'s AsyncClient is slower with 50 in flight than its sync Client one at a '
                  'time: a known limitation of its connection pool under concurrency '
                  '(encode/httpx issue 3215), not a fault of the harness.', '']
    if target_rows:
        lines += ['| target | measured | met |', '|---|---|---|']
        for target, measured, met in target_rows:
            lines.append(f"| {target} | {measured} | "
                         f"{'n/a' if met is None else ('met' if met else '**not met**')} |")
        lines.append('')
    return lines


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--duration', type=int, default=10, help='seconds per wrk run (default 10)')
    parser.add_argument('--repeat', type=int, default=3, help='interleaved repetitions (default 3)')
    parser.add_argument('--warmup', type=int, default=1, help='seconds of wrk warm-up per run (default 1)')
    parser.add_argument('--only', help=f'comma-separated servers, of: {",".join(SERVERS)}')
    parser.add_argument('--scenarios', help=f'comma-separated scenarios, of: {",".join(SCENARIOS)}')
    parser.add_argument('--quick', action='store_true',
                        help='a smoke run: --duration 2 --repeat 1 --warmup 0, shorter client runs')
    parser.add_argument('--client', action='store_true', help='only the client scenarios')
    parser.add_argument('--no-client', action='store_true', help='skip the client scenarios')
    parser.add_argument('--client-duration', type=float, default=3.0,
                        help='seconds per client run (default 3)')
    parser.add_argument('--client-server', choices=['aiohttp', 'rhc'], default='aiohttp',
                        help='the fixed server the clients call (default aiohttp)')
    parser.add_argument('--install', action='store_true',
                        help='when run as root, apt-get install wrk if it is missing')
    parser.add_argument('--output', default=os.path.join(HERE, 'RESULTS.md'),
                        help='where to write the report (default bench/RESULTS.md)')
    args = parser.parse_args(argv)
    if args.quick:
        args.duration, args.repeat, args.warmup = 2, 1, 0
        args.client_duration = min(args.client_duration, 1.0)
    names = list(SERVERS)
    if args.only:
        names = [n.strip() for n in args.only.split(',') if n.strip()]
        unknown = [n for n in names if n not in SERVERS]
        if unknown:
            parser.error(f'unknown server(s) {", ".join(unknown)}; known: {", ".join(SERVERS)}')
    scenarios = list(SCENARIOS)
    if args.scenarios:
        scenarios = [s.strip() for s in args.scenarios.split(',') if s.strip()]
        unknown = [s for s in scenarios if s not in SCENARIOS]
        if unknown:
            parser.error(f'unknown scenario(s) {", ".join(unknown)}; known: {", ".join(SCENARIOS)}')
    if (os.cpu_count() or 1) < 2:
        print('warning: fewer than 2 CPUs; server and load generator will share one', file=sys.stderr)

    started = datetime.datetime.now(datetime.timezone.utc)
    t0 = time.monotonic()
    notes, summary, client_summary, client_meta = [], {}, {}, {}
    if not args.client:
        if not ensure_wrk(args.install):
            return 2
        print(f'servers: {", ".join(names)}; scenarios: {", ".join(scenarios)}; '
              f'{args.repeat} x {args.duration}s (+{args.warmup}s warm-up)', flush=True)
        summary = summarize(bench_servers(names, scenarios, args.duration, args.repeat,
                                          args.warmup, notes))
    if not args.no_client:
        import client_bench
        client_summary, client_meta = client_bench.run_all(
            server_name=args.client_server, duration=args.client_duration, repeat=args.repeat,
            notes=notes, server_factory=Server)
    text = report(args, names, scenarios, summary, client_summary, client_meta, notes, started,
                  time.monotonic() - t0)
    print()
    print(text)
    with open(args.output, 'w', encoding='utf-8') as f:
        f.write(text)
    print(f'written to {os.path.relpath(args.output)}')
    return 0


if __name__ == '__main__':
    sys.path.insert(0, HERE)
    sys.exit(main())
