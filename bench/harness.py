"""Process helpers of the benchmark: ports, one-off requests, process trees, memory, CPU.

`Server` is one peer's process tree started from its table entry
(bench/lineup.py), pinned to SERVER_CPU (or, for an unpinned entry, let run
on every CPU), with its output going to a file.
"""
import http.client
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
SERVERS_DIR = os.path.join(HERE, 'servers')
SERVER_CPU = '0'
LOAD_CPU = '1'
EVERY_CPU = f'0-{(os.cpu_count() or 1) - 1}'    # "unpinned": the harness itself is pinned, and
                                                # its children would inherit that
CLK_TCK = os.sysconf('SC_CLK_TCK')


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


def raise_open_files():
    """Lift the soft RLIMIT_NOFILE to the hard one (children inherit it); return it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard > soft:
        wanted = 1 << 20 if hard == resource.RLIM_INFINITY else hard
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
            soft = wanted
        except (ValueError, OSError):
            pass
    return soft


# -- process trees -----------------------------------------------------------------


def _stat_fields(pid):
    """The fields of /proc/PID/stat after the command name, or None."""
    try:
        with open(f'/proc/{pid}/stat') as f:
            stat = f.read()
    except OSError:
        return None
    return stat[stat.rfind(')') + 2:].split()


def process_tree(pid):
    kids = {}
    for name in os.listdir('/proc'):
        if name.isdigit():
            fields = _stat_fields(name)
            if fields:
                kids.setdefault(int(fields[1]), []).append(int(name))
    tree, todo = [], [pid]
    while todo:
        p = todo.pop()
        tree.append(p)
        todo.extend(kids.get(p, []))
    return tree


def tree_status_kib(pid, field):
    """The sum of a /proc/PID/status field (VmHWM, VmRSS) over the tree rooted at pid."""
    total = 0
    for p in process_tree(pid):
        try:
            with open(f'/proc/{p}/status') as f:
                for line in f:
                    if line.startswith(field + ':'):
                        total += int(line.split()[1])
                        break
        except OSError:
            pass
    return total


def process_cpu_s(pid):
    """CPU seconds used so far by the process `pid` itself (not its children), or None."""
    fields = _stat_fields(pid)
    return None if fields is None else (int(fields[11]) + int(fields[12])) / CLK_TCK


def tree_cpu_s(pid):
    """CPU seconds used so far by the live processes of the tree rooted at pid."""
    total = 0
    for p in process_tree(pid):
        fields = _stat_fields(p)
        if fields:
            total += int(fields[11]) + int(fields[12])
    return total / CLK_TCK


def machine_busy_s():
    """CPU seconds spent busy by the whole machine (all CPUs), steal included.

    irq and softirq time are left out: loopback TCP is processed there, on
    behalf of the server and wrk, without being charged to either process.
    """
    with open('/proc/stat') as f:
        fields = f.readline().split()[1:]
    user, nice, system, _idle, _iowait, _irq, _softirq, steal = (int(x) for x in fields[:8])
    return (user + nice + system + steal) / CLK_TCK


def children_cpu_s():
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


class OtherLoad:
    """The share of all CPUs that anything but our own processes took between
    start() and stop(): a sign that a run's numbers are disturbed."""

    def __init__(self, *pids):
        self.pids = [p for p in pids if p]

    def _sample(self):
        return (time.monotonic(), machine_busy_s(), children_cpu_s(),
                sum(tree_cpu_s(p) for p in self.pids))

    def start(self):
        self.before = self._sample()

    def stop(self):
        """Percent of the machine taken by others; reaped children (wrk) count as ours."""
        elapsed, busy, reaped, ours = (b - a for a, b in zip(self.before, self._sample()))
        if elapsed <= 0:
            return None
        other = max(0.0, busy - reaped - ours)
        return 100.0 * other / (elapsed * (os.cpu_count() or 1))


# -- a server under test ---------------------------------------------------------------


class StartFailed(RuntimeError):
    """A server exited, or never answered, while starting."""


class Launch:
    """What a server's command line is built from: its port, a scratch directory,
    whether the scenario wants its access log on, and its metrics."""

    def __init__(self, port, workdir, access_log=False, metrics=False):
        self.port = port
        self.workdir = workdir
        self.access_log = access_log
        self.metrics = metrics


class Server:
    """One peer's process tree, from a ServerSpec, pinned to SERVER_CPU.

    PYTHONPATH is the spec's source tree (the working tree, or a baseline's),
    so `import rhc` finds that tree's rhc before any installed copy.
    """

    def __init__(self, spec, access_log=False, env=None, metrics=False):
        self.spec = spec
        self.name = spec.name
        self.description = spec.description
        self.port = free_port()
        self.workdir = tempfile.mkdtemp(prefix='rhc-bench-server-')
        cpus = SERVER_CPU if spec.pinned else EVERY_CPU
        self.argv = ['taskset', '-c', cpus,
                     *spec.argv(Launch(self.port, self.workdir, access_log, metrics))]
        self.env = spec.environment(self.port)
        self.env.update(env or {})
        self.cwd = spec.cwd
        self.log_path = os.path.join(self.workdir, 'output.log')
        self.proc = None

    def spawn(self):
        with open(self.log_path, 'wb') as log:
            self.proc = subprocess.Popen(self.argv, env=self.env, cwd=self.cwd, stdout=log,
                                         stderr=subprocess.STDOUT, start_new_session=True)

    def start(self, timeout=20.0, poll=0.05):
        """Start it and wait for its first 200 on GET /test/ping; the seconds that took."""
        t0 = time.perf_counter()
        self.spawn()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise StartFailed(f'{self.name} exited with {self.proc.returncode}: '
                                   f'{self.output()}')
            try:
                status, _ = request(self.port, 'GET', '/test/ping', timeout=1.0)
                if status == 200:
                    return time.perf_counter() - t0
            except OSError:
                pass
            time.sleep(poll)
        self.stop()
        raise StartFailed(f'{self.name} did not answer on port {self.port} within '
                           f'{timeout:.0f}s: {self.output()}')

    def check(self, method, path, body, want, timeout=10.0):
        """A problem with the answer to one request, or None when it is right."""
        try:
            status, got = request(self.port, method, path, body, timeout=timeout)
        except OSError as e:
            return f'{method} {path}: {e}'
        if callable(want):
            return None if status == 200 and want(got) else f'{method} {path}: {status} {got!r:.80}'
        if status != 200 or got != want:
            return f'{method} {path}: {status} {got!r:.80}'
        return None

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def peak_rss_kib(self):
        return tree_status_kib(self.proc.pid, 'VmHWM') if self.alive() else None

    def rss_kib(self):
        return tree_status_kib(self.proc.pid, 'VmRSS') if self.alive() else None

    def stop(self):
        if self.proc is not None:
            stop_group(self.proc)
        shutil.rmtree(self.workdir, ignore_errors=True)

    def output(self, tail=1500):
        try:
            with open(self.log_path, 'rb') as f:
                f.seek(max(0, os.path.getsize(self.log_path) - tail))
                return f.read().decode('utf-8', 'replace').strip()
        except OSError:
            return ''

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


def stop_group(proc, timeout=5.0):
    """SIGTERM to the process group of proc, SIGKILL if it lingers; reap it."""
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait()
    else:
        proc.wait()


def python_startup_kib(*flags):
    """Peak RSS of an interpreter that does nothing: the floor under every Python server."""
    code = ("print(next(l.split()[1] for l in open('/proc/self/status') "
            "if l.startswith('VmHWM')))")
    try:
        done = subprocess.run([sys.executable, *flags, '-c', code], capture_output=True,
                              text=True, timeout=30)
        return int(done.stdout.strip())
    except (OSError, ValueError, subprocess.TimeoutExpired):
        return None
