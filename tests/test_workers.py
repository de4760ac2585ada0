"""`--workers N`: a master, its workers, and every promise of SPEC §9 about them.

Each test launches `python -m rhc.launch SERVICE --workers N` on 127.0.0.1
port 0 (tests/worker_support.py) and reads its log; workers are the
master's children in /proc, and each leaves marks by pid in a folder
(tests/worker_handlers.py). Everything is killed by pid afterwards.
"""
import http.client
import json
import os
import re
import signal
import socket
import threading
import time

import pytest

from worker_support import Master, alive, get_json, wait_exited

SERVICE = '''\
SETUP worker_handlers.setup
TEARDOWN worker_handlers.teardown
SERVER api 0
  HEALTH /health
  READY /ready
  ROUTE /pid$
    GET worker_handlers.pid
  ROUTE /slow$
    GET worker_handlers.slow
  ROUTE /block$
    GET worker_handlers.block
  ROUTE /exit$
    GET worker_handlers.exit_now
'''

pytestmark = pytest.mark.slow


@pytest.fixture
def service(tmp_path):
    path = tmp_path / 'service.micro'
    path.write_text(SERVICE)
    (tmp_path / 'marks').mkdir()
    return path


@pytest.fixture
def start(service, tmp_path):
    masters = []

    def run(*flags, env=None, listening=True):
        environ = {'SERVER_API_HOST': '127.0.0.1', 'MARKS_DIR': str(tmp_path / 'marks'),
                   **(env or {})}
        master = Master([str(service), *flags], environ)
        masters.append(master)
        return master.wait_listening() if listening else master
    yield run
    for master in masters:
        master.cleanup()


def marks(tmp_path, what):
    return {int(p.name.split('.')[1]) for p in (tmp_path / 'marks').glob(f'{what}.*')}


def test_port_0_is_shared_and_every_worker_runs_setup_and_teardown(start, tmp_path):
    master = start('--workers', '2')
    assert len(re.findall(r'listening on api port \d+', master.log)) == 1
    workers = master.workers()
    assert len(workers) == 2
    assert master.pids_answering() == set(workers)       # both accept on the one port
    assert marks(tmp_path, 'setup') == set(workers)
    master.signal(signal.SIGTERM)
    assert master.wait() == 0, master.log
    assert marks(tmp_path, 'teardown') == set(workers)
    assert not [pid for pid in workers if alive(pid)]


def test_the_master_imports_no_handler_code(start, tmp_path):
    master = start('--workers', '2')
    imported = marks(tmp_path, 'imported')
    assert imported == set(master.workers())
    assert master.pid not in imported


def test_workers_0_means_one_per_cpu(start):
    master = start('--workers', '0')
    cpus = len(os.sched_getaffinity(0))
    assert f'starting {cpus} workers' in master.log
    assert len(master.workers()) == cpus


def test_a_dead_worker_is_replaced_and_its_exit_status_logged(start):
    master = start('--workers', '2')
    before = set(master.workers())
    try:
        get_json(master.port(), '/exit?status=3')
    except (http.client.HTTPException, OSError):
        pass        # the worker that took it exited without answering
    m = master.read_until(r'worker (\d+) exited with status 3 after [\d.]+s; starting another')
    assert int(m.group(1)) in before
    master.read_until(r'worker (\d+) started')
    victim = next(pid for pid in master.workers() if pid in before)
    os.kill(victim, signal.SIGKILL)
    master.read_until(rf'worker {victim} was killed by SIGKILL after [\d.]+s; starting another')
    deadline = time.monotonic() + 10
    while len(set(master.workers()) - before) < 2:
        assert time.monotonic() < deadline, master.log
        time.sleep(0.05)
    assert master.pids_answering() == set(master.workers())
    master.signal(signal.SIGTERM)
    assert master.wait() == 0


def test_a_worker_whose_loop_is_blocked_is_killed_and_replaced(start):
    master = start('--workers', '2', '--worker-timeout', '1')
    blocked = http.client.HTTPConnection('127.0.0.1', master.port(), timeout=10)
    blocked.request('GET', '/block?s=8')        # time.sleep(8) on the worker's loop
    m = master.read_until(r'worker (\d+): no heartbeat for [\d.]+s \(its loop is blocked\); '
                          r'killing it', within=6)
    victim = int(m.group(1))
    master.read_until(rf'worker {victim} was killed by SIGKILL after [\d.]+s; starting another')
    with pytest.raises((http.client.HTTPException, OSError)):
        blocked.getresponse()                   # its request died with it
    blocked.close()
    assert not alive(victim)
    assert victim not in master.pids_answering(at_least=2)
    assert get_json(master.port(), '/health') == (200, {'status': 'ok'})


def test_new_workers_dying_at_once_stop_the_master_with_1(start, tmp_path):
    master = start('--workers', '2', env={'CRASH_IN_SETUP': '1'}, listening=False)
    code = master.wait(timeout=25)
    assert code == 1, master.log
    assert 'RuntimeError: SETUP fails on purpose' in master.log
    assert re.search(r'5 workers in a row died at once', master.log), master.log
    assert len(re.findall(r'worker \d+ exited with status 1 after [\d.]+s, never ready', master.log)) >= 5
    assert not [pid for pid in master.known if alive(pid)]


def test_sigterm_drains_every_worker_and_exits_0(start, tmp_path):
    master = start('--workers', '2', '--grace', '10')
    workers = master.workers()
    # One request in flight on each worker: fresh connections until both have one.
    in_flight = {}
    for _ in range(50):
        conn = http.client.HTTPConnection('127.0.0.1', master.port(), timeout=10)
        conn.request('GET', '/pid')
        pid = get_pid(conn)
        if pid not in in_flight:
            conn.request('GET', '/slow?ms=1500')
            in_flight[pid] = conn
        else:
            conn.close()
        if len(in_flight) == 2:
            break
    assert set(in_flight) == set(workers)
    master.signal(signal.SIGTERM)
    for pid, conn in in_flight.items():
        response = conn.getresponse()
        assert response.status == 200 and response.getheader('Connection') == 'close'
        assert str(pid) in response.read().decode()
        conn.close()
    assert master.wait() == 0, master.log
    assert 'stopping: SIGTERM; draining 2 workers' in master.log
    assert marks(tmp_path, 'teardown') == set(workers)
    assert not [pid for pid in workers if alive(pid)]


def get_pid(conn):
    response = conn.getresponse()
    return json.loads(response.read())['pid']


def test_a_second_sigterm_ends_every_drain_at_once_with_1(start, tmp_path):
    master = start('--workers', '2', '--grace', '30')
    hanging = http.client.HTTPConnection('127.0.0.1', master.port(), timeout=10)
    hanging.request('GET', '/slow?ms=60000')
    time.sleep(0.3)
    master.signal(signal.SIGTERM)
    master.read_until('stopping: SIGTERM')
    time.sleep(0.3)
    assert master.proc.poll() is None           # draining: a request is in flight
    started = time.monotonic()
    master.signal(signal.SIGTERM)
    assert master.wait() == 1, master.log
    assert time.monotonic() - started < 5
    assert 'second SIGTERM during the drain' in master.log
    assert len(marks(tmp_path, 'teardown')) == 2
    hanging.close()


def test_sighup_replaces_every_worker_each_new_one_ready_first(start, tmp_path):
    master = start('--workers', '2')
    old = set(master.workers())
    failures, answered, done = [], [], threading.Event()

    def client():
        conn = None
        while not done.is_set():
            try:
                conn = conn or http.client.HTTPConnection('127.0.0.1', master.port(), timeout=5)
                status, document = get_json(master.port(), '/pid', conn)
                answered.append(document['pid'])
                if status != 200:
                    failures.append(status)
            except (http.client.HTTPException, OSError) as e:
                failures.append(repr(e))
                conn = None
    thread = threading.Thread(target=client, daemon=True)
    thread.start()
    try:
        master.signal(signal.SIGHUP)
        master.read_until('SIGHUP: every worker replaced', within=20)
        master.wait_replaced(old)
        time.sleep(0.2)
    finally:
        done.set()
        thread.join(10)
    new = set(master.workers())
    assert len(new) == 2 and not new & old
    assert failures == []
    assert set(answered) & new      # the keep-alive client moved over to the new workers
    for pid in old:
        # Each old worker retired only once a new one was ready; it ran TEARDOWN.
        m = re.search(rf'worker (\d+) is ready; worker {pid} retires', master.log)
        assert m and int(m.group(1)) in new, master.log
        assert f'rhc.launch[{pid}] stopping: SIGUSR1' in master.log
    assert marks(tmp_path, 'teardown') == old
    assert marks(tmp_path, 'setup') == old | new
    master.signal(signal.SIGTERM)
    assert master.wait() == 0


def test_workers_stop_when_the_master_is_killed(start):
    master = start('--workers', '2', '--worker-timeout', '2')
    workers = master.workers()
    os.kill(master.pid, signal.SIGKILL)
    master.proc.wait(5)
    wait_exited(workers, 10, 'workers outlived their master')


def test_a_port_in_use_names_the_server_line(start, service):
    with socket.socket() as taken:
        taken.bind(('127.0.0.1', 0))
        taken.listen()
        port = taken.getsockname()[1]
        master = start('--workers', '2', env={'SERVER_API_PORT': str(port)}, listening=False)
        assert master.wait() == 1
    assert f'{service}:3: server api cannot listen on port {port}' in master.log
