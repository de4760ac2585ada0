"""Heavy load, descriptor exhaustion and graceful stop, against launched services.

- 2,000 concurrent keep-alive connections, 5 requests each, driven by a
  non-blocking selectors client: every answer is the right one; afterwards
  the server's descriptors are back to baseline and a second round does not
  grow its memory (VmRSS) -- nothing leaks per connection.
- With the server's RLIMIT_NOFILE at 64 and 200 clients: it serves the
  connections it has, pauses accepting without spinning (its CPU time over a
  second stays low), and serves the waiting ones once descriptors free up.
- SIGTERM while 100 delayed requests are in flight: each gets its whole
  answer, new connections are refused, the process exits 0.
"""
import json
import os
import resource
import selectors
import signal
import socket
import subprocess
import time

import pytest

from conftest import Launched

pytestmark = pytest.mark.slow

SERVICE = """\
SERVER api 0
  ROUTE /test/ping$
    GET handlers.ping
  ROUTE /echo$
    GET handlers.echo
  ROUTE /delayed$
    GET handlers.delayed
"""
ENV = {'SERVER_API_HOST': '127.0.0.1'}
CONNECTIONS = 2000
REQUESTS = 5


def _raise_nofile(want):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < want:
        new = want if hard == resource.RLIM_INFINITY else min(want, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (new, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


class LaunchedWithLimit(Launched):
    """`Launched`, with RLIMIT_NOFILE set in the child before it runs."""

    def __init__(self, args, env=None, nofile=None):
        def limit():
            if nofile is not None:
                hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
                resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, hard))
        original = subprocess.Popen

        def popen(*a, **kw):
            return original(*a, preexec_fn=limit, **kw)
        subprocess.Popen = popen
        try:
            super().__init__(args, env)
        finally:
            subprocess.Popen = original


@pytest.fixture
def launch_limited(tmp_path):
    launched = []

    def start(*args, nofile=None, env=None):
        path = tmp_path / 'load.micro'
        path.write_text(SERVICE)
        launched.append(LaunchedWithLimit([str(path), '--no-access-log', *args],
                                          dict(ENV, **(env or {})), nofile))
        return launched[-1].wait_listening()
    yield start
    for proc in launched:
        proc.kill()


# -- /proc readings of the server -----------------------------------------------------

def fds_of(pid):
    return len(os.listdir(f'/proc/{pid}/fd'))


def rss_kb(pid):
    with open(f'/proc/{pid}/status') as f:
        for line in f:
            if line.startswith('VmRSS:'):
                return int(line.split()[1])
    raise AssertionError('no VmRSS')


def cpu_seconds(pid):
    with open(f'/proc/{pid}/stat') as f:
        fields = f.read().rsplit(')', 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf('SC_CLK_TCK')


def settle(read, target, wait=5.0):
    """Poll `read()` until it is <= target or `wait` passes; the last reading."""
    deadline = time.monotonic() + wait
    value = read()
    while value > target and time.monotonic() < deadline:
        time.sleep(0.05)
        value = read()
    return value


# -- a non-blocking client for many connections ----------------------------------------------

class Client:
    """One connection: `count` keep-alive GET /echo?c=I&r=J requests, one after another."""

    __slots__ = ('index', 'sock', 'count', 'sent', 'answers', 'buf', 'out', 'error', 'done')

    def __init__(self, index, count):
        self.index = index
        self.count = count
        self.sent = 0
        self.answers = []
        self.buf = b''
        self.out = b''
        self.error = None
        self.done = False
        self.sock = socket.socket()
        self.sock.setblocking(False)

    def next_request(self):
        self.out = (b'GET /echo?c=%d&r=%d HTTP/1.1\r\nHost: load\r\n\r\n'
                    % (self.index, self.sent))
        self.sent += 1

    def take_responses(self):
        """Whole responses out of the buffer, as (status, parsed JSON body)."""
        while True:
            end = self.buf.find(b'\r\n\r\n')
            if end < 0:
                return
            head = self.buf[:end].decode('latin-1').split('\r\n')
            length = 0
            for line in head[1:]:
                name, _, value = line.partition(':')
                if name.lower() == 'content-length':
                    length = int(value)
            if len(self.buf) < end + 4 + length:
                return
            body = self.buf[end + 4:end + 4 + length]
            self.buf = self.buf[end + 4 + length:]
            self.answers.append((int(head[0].split(' ')[1]), json.loads(body)))


def drive(port, n, count, limit):
    """Run `n` clients of `count` requests at once for at most `limit` seconds."""
    selector = selectors.DefaultSelector()
    clients = [Client(i, count) for i in range(n)]
    for client in clients:
        err = client.sock.connect_ex(('127.0.0.1', port))
        if err not in (0, 115):      # EINPROGRESS
            client.error = os.strerror(err)
            client.done = True
            continue
        client.next_request()
        selector.register(client.sock, selectors.EVENT_WRITE, client)
    pending = sum(not c.done for c in clients)
    deadline = time.monotonic() + limit
    while pending and time.monotonic() < deadline:
        for key, events in selector.select(timeout=0.1):
            client = key.data
            try:
                if events & selectors.EVENT_WRITE:
                    sent = client.sock.send(client.out)
                    client.out = client.out[sent:]
                    if not client.out:
                        selector.modify(client.sock, selectors.EVENT_READ, client)
                    continue
                data = client.sock.recv(65536)
            except (BlockingIOError, InterruptedError):
                continue
            except OSError as e:
                data, client.error = b'', repr(e)
            if not data:
                client.error = client.error or 'closed by the server'
            client.buf += data
            before = len(client.answers)
            client.take_responses()
            if client.error or len(client.answers) == count:
                client.done = True
                pending -= 1
                selector.unregister(client.sock)
            elif len(client.answers) > before:
                client.next_request()
                selector.modify(client.sock, selectors.EVENT_WRITE, client)
    selector.close()
    return clients


def check_answers(clients, count):
    wrong = []
    for client in clients:
        expected = [(200, {'method': 'GET', 'path': '/echo',
                           'query': {'c': str(client.index), 'r': str(r)}, 'body': ''})
                    for r in range(count)]
        if client.answers != expected:
            wrong.append((client.index, client.error, client.answers[-1:]))
    return wrong


def close_all(clients):
    for client in clients:
        client.sock.close()


@pytest.mark.timeout(120)
def test_two_thousand_keep_alive_connections(launch_limited):
    assert _raise_nofile(CONNECTIONS * 2 + 200) > CONNECTIONS + 100
    server = launch_limited(nofile=CONNECTIONS * 2 + 200)
    pid, port = server.proc.pid, server.port()
    warm = drive(port, 10, 2, 5)
    assert not check_answers(warm, 2)
    close_all(warm)
    time.sleep(0.2)
    fds0, rss0 = fds_of(pid), rss_kb(pid)
    rounds = []
    for _ in range(2):
        started = time.monotonic()
        clients = drive(port, CONNECTIONS, REQUESTS, limit=40)
        took = time.monotonic() - started
        wrong = check_answers(clients, REQUESTS)
        peak_fds = fds_of(pid)
        close_all(clients)
        assert not wrong, f'{len(wrong)} connections answered wrongly, e.g. {wrong[:3]}'
        assert peak_fds >= CONNECTIONS * 0.9       # they were open at once
        fds = settle(lambda: fds_of(pid), fds0)
        assert fds <= fds0, f'server holds {fds - fds0} more descriptors than before the load'
        rounds.append((took, rss_kb(pid)))
    (took1, rss1), (took2, rss2) = rounds
    print(f'\n2x{CONNECTIONS} connections x {REQUESTS} requests: {took1:.1f}s, {took2:.1f}s; '
          f'VmRSS {rss0} -> {rss1} -> {rss2} kB')
    assert rss1 - rss0 < 100 * 1024, (rss0, rss1)     # 2,000 connections' worth, at most
    assert rss2 - rss1 < 8 * 1024, (rss1, rss2)       # a second round leaves no more behind
    assert server.proc.poll() is None
    code, _, log = server.terminate()
    assert code == 0, log
    assert 'Traceback' not in log, log


@pytest.mark.timeout(60)
def test_out_of_descriptors_pauses_accepting_without_spinning(launch_limited):
    server = launch_limited(nofile=64)
    pid, port = server.proc.pid, server.port()
    base_fds = fds_of(pid)
    assert base_fds < 20, base_fds
    # 200 clients: the server can take ~50 of them, the rest wait in the backlog.
    first = drive(port, 200, 1, limit=3)
    served = [c for c in first if c.answers]
    waiting = [c for c in first if not c.answers and not c.error]
    assert served and len(served) < 64
    assert not check_answers(served, 1)
    assert waiting, 'every client was served: the limit did not bite'
    assert not [c for c in first if c.error], [c.error for c in first if c.error][:3]
    assert fds_of(pid) <= 64
    # Accept is paused: no spinning while nothing changes.
    cpu0 = cpu_seconds(pid)
    time.sleep(1.0)
    spent = cpu_seconds(pid) - cpu0
    print(f'\nout of descriptors: {len(served)} served, {len(waiting)} waiting, '
          f'{spent:.2f}s CPU in 1s')
    assert spent < 0.25, f'the server used {spent:.2f}s of CPU in 1s while out of descriptors'
    # It keeps serving the connections it has.
    for client in served[:20]:
        client.sock.setblocking(True)
        client.sock.settimeout(3)
        client.sock.sendall(b'GET /test/ping HTTP/1.1\r\nHost: x\r\n\r\n')
        data = b''
        while not data.endswith(b'{"ping": "pong"}'):
            chunk = client.sock.recv(4096)
            assert chunk
            data += chunk
        assert data.startswith(b'HTTP/1.1 200 ')
    # Recovery: free the descriptors, and the waiting clients' requests are answered.
    close_all(served)
    selector = selectors.DefaultSelector()
    for client in waiting:
        client.sock.setblocking(False)
        selector.register(client.sock, selectors.EVENT_READ, client)
    deadline = time.monotonic() + 15
    answered = 0
    while answered < len(waiting) and time.monotonic() < deadline:
        for key, _ in selector.select(timeout=0.1):
            client = key.data
            try:
                data = client.sock.recv(65536)
            except (BlockingIOError, InterruptedError):
                continue
            client.buf += data
            client.take_responses()
            if client.answers or not data:
                selector.unregister(client.sock)
                client.sock.close()      # free its descriptor for the next one
                answered += 1
    selector.close()
    assert not check_answers(waiting, 1), 'waiting clients not answered after recovery'
    close_all(waiting)
    assert settle(lambda: fds_of(pid), base_fds) <= base_fds
    fresh = drive(port, 5, 3, limit=5)
    assert not check_answers(fresh, 3)
    close_all(fresh)
    code, _, log = server.terminate()
    assert code == 0, log
    assert 'Traceback' not in log, log


@pytest.mark.timeout(60)
def test_sigterm_finishes_requests_in_flight(launch_limited):
    server = launch_limited('--grace', '10')
    port = server.port()
    socks = []
    for i in range(100):
        s = socket.create_connection(('127.0.0.1', port), timeout=10)
        s.sendall(b'GET /delayed?ms=1500&i=%d HTTP/1.1\r\nHost: x\r\n\r\n' % i)
        socks.append(s)
    time.sleep(0.5)                    # every request is in, its answer ~1 s away
    started = time.monotonic()
    server.proc.send_signal(signal.SIGTERM)
    time.sleep(0.2)
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(('127.0.0.1', port), timeout=2).close()
    answers = []
    for s in socks:
        data = b''
        while chunk := s.recv(65536):
            data += chunk
        s.close()
        answers.append(data)
    # no second SIGTERM (terminate() would send one): the first must be enough
    _, err = server.proc.communicate(timeout=15)
    stopped = time.monotonic() - started
    code, log = server.proc.returncode, ''.join(server.log) + err
    assert code == 0, log
    for data in answers:
        head, _, body = data.partition(b'\r\n\r\n')
        assert head.startswith(b'HTTP/1.1 200 OK\r\n'), data[:200]
        assert b'\r\nConnection: close' in head
        length = int(head.lower().split(b'content-length: ')[1].split(b'\r\n')[0])
        assert len(body) == length
        assert json.loads(body) == {'delayed': 1500, 'path': '/delayed'}
    assert stopped < 5, f'took {stopped:.1f}s to stop: it waited for more than the requests'
    assert 'Traceback' not in log, log


@pytest.mark.timeout(30)
def test_sigterm_grace_period_bounds_the_wait(launch_limited):
    server = launch_limited('--grace', '0.5')
    s = socket.create_connection(('127.0.0.1', server.port()), timeout=10)
    s.sendall(b'GET /delayed?ms=20000 HTTP/1.1\r\nHost: x\r\n\r\n')
    time.sleep(0.3)
    started = time.monotonic()
    server.proc.send_signal(signal.SIGTERM)
    _, err = server.proc.communicate(timeout=10)
    assert server.proc.returncode == 0, ''.join(server.log) + err
    assert time.monotonic() - started < 4
    assert s.recv(100) == b''          # closed, unanswered, once the grace ran out
    s.close()
