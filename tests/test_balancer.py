"""Behind a real load balancer: rolling restarts, SIGHUP and kill -9 under load.

Debian's haproxy (tests/frontends.py) balances over rhc, health-checking
READY every 100 ms. Client threads send `GET /echo/N` through it, some on a
fresh connection per request and some on one keep-alive connection each,
and check every answer: status 200, the same N back, and the pid of the
process that served it. The loops are bounded (a request count and a
deadline) and everything is stopped by pid.

- Rolling restart: two single-process instances, each in turn stopped with
  SIGTERM and `--drain-delay 1` and replaced on its port: no request fails.
- SIGHUP to a `--workers 2` master: no request fails, and the pids change.
- kill -9 of one worker under load: the requests in flight on its
  connections may fail; they are counted, and the service goes on
  answering (what waits in its queue is answered by its replacement).
"""
import http.client
import json
import os
import signal
import threading
import time

import pytest

from frontends import HAPROXY, HAProxy
from worker_support import Master

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(HAPROXY is None, reason='haproxy is not installed')]

SERVICE = r'''
SERVER api 0
  HEALTH /health
  READY /ready
  ROUTE /echo/(\d+)$
    GET worker_handlers.echo
'''

MAX_REQUESTS = 20_000       # per client thread: the loops are bounded
MAX_SECONDS = 40


class Clients:
    """Client threads through the balancer; what they got, and what failed."""

    def __init__(self, port, fresh=2, keep_alive=2):
        self.port = port
        self.stopping = threading.Event()
        self.lock = threading.Lock()
        self.answers = []       # (when, pid)
        self.failures = []      # (when, what)
        self.threads = [threading.Thread(target=self.loop, args=(kind,), daemon=True)
                        for kind in ['fresh'] * fresh + ['keep-alive'] * keep_alive]

    def start(self):
        for thread in self.threads:
            thread.start()
        return self

    def loop(self, kind):
        conn = None
        deadline = time.monotonic() + MAX_SECONDS
        for n in range(MAX_REQUESTS):
            if self.stopping.is_set() or time.monotonic() > deadline:
                break
            try:
                if conn is None:
                    conn = http.client.HTTPConnection('127.0.0.1', self.port, timeout=10)
                conn.request('GET', f'/echo/{n}')
                response = conn.getresponse()
                body = response.read()
                if response.status != 200:
                    self.failed(f'{kind} {n}: {response.status} {body[:80]!r}')
                    conn.close()
                    conn = None
                    continue
                document = json.loads(body)
                if document.get('n') != n:
                    self.failed(f'{kind} {n}: wrong answer {document}')
                with self.lock:
                    self.answers.append((time.monotonic(), document['pid']))
            except (http.client.HTTPException, OSError, ValueError) as e:
                self.failed(f'{kind} {n}: {e!r}')
                conn = None
            if kind == 'fresh' and conn is not None:
                conn.close()
                conn = None
        if conn is not None:
            conn.close()

    def failed(self, what):
        with self.lock:
            self.failures.append((time.monotonic(), what))

    def pids(self, since=0.0):
        with self.lock:
            return {pid for when, pid in self.answers if when >= since}

    def wait_for(self, pids, since=0.0, within=15):
        """Until each of `pids` has answered (after `since`)."""
        deadline = time.monotonic() + within
        while not set(pids) <= self.pids(since):
            assert time.monotonic() < deadline, f'no answer from {set(pids) - self.pids(since)}'
            assert any(t.is_alive() for t in self.threads), 'the client loops have ended'
            time.sleep(0.02)

    def wait_answers(self, count, within=15):
        """Until `count` more answers have come: the loops are under way."""
        with self.lock:
            target = len(self.answers) + count
        deadline = time.monotonic() + within
        while len(self.answers) < target:
            assert time.monotonic() < deadline, f'{len(self.answers)} answers, not {target}'
            time.sleep(0.02)

    def stop(self):
        self.stopping.set()
        for thread in self.threads:
            thread.join(15)
        return self


@pytest.fixture
def service(tmp_path):
    path = tmp_path / 'service.micro'
    path.write_text(SERVICE)
    return str(path)


@pytest.fixture
def launched():
    """`launched(*args, port=0)` -> a Master (tests/worker_support.py), killed afterwards."""
    started = []

    def start(*args, port=0):
        env = {'SERVER_API_HOST': '127.0.0.1', 'SERVER_API_PORT': str(port)}
        started.append(Master([*args, '--no-access-log'], env).wait_listening())
        return started[-1]
    yield start
    for master in started:
        master.cleanup()


def test_a_rolling_restart_behind_haproxy_loses_no_request(service, launched):
    instances = {'a': launched(service, '--drain-delay', '1'),
                 'b': launched(service, '--drain-delay', '1')}
    with HAProxy({name: proc.port() for name, proc in instances.items()}) as balancer:
        for name in instances:
            balancer.wait_state(name, 'UP')
        clients = Clients(balancer.port).start()
        try:
            clients.wait_for({proc.pid for proc in instances.values()})
            clients.wait_answers(200)
            for name, old in list(instances.items()):
                old.signal(signal.SIGTERM)
                # READY turned 503 at once: haproxy takes it out while it still serves.
                balancer.wait_state(name, 'DOWN', within=5)
                assert old.proc.poll() is None
                assert old.wait() == 0, old.log
                new = instances[name] = launched(service, '--drain-delay', '1', port=old.port())
                balancer.wait_state(name, 'UP')
                clients.wait_for({new.pid}, since=time.monotonic())
        finally:
            clients.stop()
    assert clients.failures == []
    assert len(clients.answers) > 100


def test_sighup_under_workers_behind_haproxy_loses_no_request(service, launched):
    master = launched(service, '--workers', '2')
    old = set(master.workers())
    with HAProxy({'rhc': master.port()}) as balancer:
        balancer.wait_state('rhc', 'UP')
        clients = Clients(balancer.port).start()
        try:
            clients.wait_for(old)
            clients.wait_answers(200)
            master.signal(signal.SIGHUP)
            master.read_until('SIGHUP: every worker replaced', within=20)
            master.wait_replaced(old)
            new = set(master.workers())
            clients.wait_for(new, since=time.monotonic())
            clients.wait_answers(200)
        finally:
            clients.stop()
    assert clients.failures == []
    assert len(new) == 2 and not new & old
    assert clients.pids() == old | new


def test_kill_9_of_a_worker_under_load_fails_only_its_requests(service, launched,
                                                              record_property, capsys):
    master = launched(service, '--workers', '2')
    workers = master.workers()
    concurrency = 8
    # One instance: a single slow check on a loaded machine must not take it all out.
    with HAProxy({'rhc': master.port()}, fall=3) as balancer:
        balancer.wait_state('rhc', 'UP')
        clients = Clients(balancer.port, fresh=concurrency // 2, keep_alive=concurrency // 2)
        clients.start()
        try:
            clients.wait_for(workers)
            clients.wait_answers(500)
            victim, survivor = workers
            killed = time.monotonic()
            os.kill(victim, signal.SIGKILL)
            master.read_until(rf'worker {victim} was killed by SIGKILL')
            replacement = {int(master.read_until(r'worker (\d+) started').group(1))}
            clients.wait_for(replacement | {survivor}, since=time.monotonic())
            recovered = time.monotonic()
            clients.wait_answers(200)
            assert balancer.states()['rhc'] == 'UP'
        finally:
            clients.stop()
    failed = [what for when, what in clients.failures]
    record_property('kill_9_failed_requests', len(failed))
    with capsys.disabled():
        print(f'\nkill -9 of a worker under load: {len(failed)} of '
              f'{len(clients.answers) + len(failed)} requests failed: {failed}')
    # At most one request in flight per client: only those on the victim's connections.
    assert len(failed) <= concurrency
    assert all(killed <= when < recovered for when, _ in clients.failures)
    assert clients.pids(since=recovered) == replacement | {survivor}     # it goes on answering
