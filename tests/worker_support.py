"""A launched `--workers` master for the tests: its log, its workers, and cleaning up.

Not a test module. `Master` launches `python -m rhc.launch`, reads its
log as it comes, finds the workers as the master's children in
/proc, and `cleanup()` kills every worker and the master by pid, so no
worker outlives a test.
"""
import http.client
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time

from conftest import ROOT, TESTS


def children(pid):
    """The pids whose parent is `pid`, from /proc."""
    found = []
    for name in os.listdir('/proc'):
        if not name.isdigit():
            continue
        try:
            with open(f'/proc/{name}/stat') as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rfind(')') + 2:].split()
        if int(fields[1]) == pid and fields[0] != 'Z':
            found.append(int(name))
    return sorted(found)


def alive(pid):
    try:
        with open(f'/proc/{pid}/stat') as f:
            stat = f.read()
    except OSError:
        return False
    return stat[stat.rfind(')') + 2:].split()[0] != 'Z'


def wait_exited(pids, within, what):
    """Wait until every pid in `pids` has exited; fail with `what` after `within` seconds."""
    deadline = time.monotonic() + within
    while [pid for pid in pids if alive(pid)]:
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


def get_json(port, path, conn=None, timeout=5):
    """(status, document) of one GET; on `conn` when given (keep-alive), else a fresh one."""
    own = conn is None
    conn = conn or http.client.HTTPConnection('127.0.0.1', port, timeout=timeout)
    try:
        conn.request('GET', path)
        response = conn.getresponse()
        return response.status, json.loads(response.read())
    finally:
        if own:
            conn.close()


class Master:
    """`python -m rhc.launch SERVICE --workers N ...`, read and cleaned up by pid.

    A thread reads the log as it comes (the workers' access lines too), so
    the pipe never fills: a worker blocked writing its log would look like
    a blocked loop to its master.
    """

    def __init__(self, args, env=None):
        full_env = dict(os.environ)
        full_env['PYTHONPATH'] = os.pathsep.join([ROOT, TESTS, full_env.get('PYTHONPATH', '')])
        full_env.update(env or {})
        self.proc = subprocess.Popen([sys.executable, '-m', 'rhc.launch', *args],
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, env=full_env, cwd=ROOT, text=True)
        self.pid = self.proc.pid
        self.lines = []
        self.changed = threading.Condition()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        self.known = set()      # every worker pid seen, for cleanup
        self.read = 0           # how many lines read_until has looked at
        self.ports = {}

    def _read(self):
        for line in self.proc.stderr:
            with self.changed:
                self.lines.append(line)
                self.changed.notify_all()
        with self.changed:
            self.lines.append(None)     # EOF: the master and every worker have closed it
            self.changed.notify_all()

    @property
    def log(self):
        with self.changed:
            return ''.join(line for line in self.lines if line is not None)

    def read_until(self, pattern, within=10):
        """The first log line from here on that matches `pattern` (a regex): its match."""
        deadline = time.monotonic() + within
        with self.changed:
            while True:
                while self.read < len(self.lines):
                    line = self.lines[self.read]
                    self.read += 1
                    if line is None:
                        raise AssertionError(f'no {pattern!r} before the end:\n{self.log}')
                    m = re.search(pattern, line)
                    if m:
                        return m
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f'no {pattern!r} in time:\n{self.log}')
                self.changed.wait(left)

    def wait_listening(self, count=1, within=30):
        while len(self.ports) < count:
            m = self.read_until(r'listening on (\S+) port (\d+)', within)
            self.ports[m.group(1)] = int(m.group(2))
        self.workers()
        return self

    def port(self, name=None):
        return self.ports[name] if name else next(iter(self.ports.values()))

    def workers(self):
        """The master's live children now."""
        pids = children(self.pid)
        self.known.update(pids)
        return pids

    def pids_answering(self, path='/pid', at_least=2, tries=300):
        """The distinct pids that answer `path` on fresh connections (until `at_least`)."""
        seen = set()
        for _ in range(tries):
            seen.add(get_json(self.port(), path)[1]['pid'])
            if len(seen) >= at_least:
                break
        return seen

    def wait_replaced(self, old, within=10):
        """Wait until none of the pids in `old` is a child of the master any more."""
        deadline = time.monotonic() + within
        while old & set(self.workers()):
            assert time.monotonic() < deadline, self.log
            time.sleep(0.05)

    def signal(self, signum):
        self.workers()
        self.proc.send_signal(signum)

    def wait(self, timeout=20):
        """The exit status, once the master has exited and its log is read to the end."""
        code = self.proc.wait(timeout)
        self.reader.join(5)
        return code

    def cleanup(self):
        self.workers()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(5)
        for pid in self.known:
            if alive(pid):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        self.reader.join(5)
        self.proc.stderr.close()
