"""METRICS under `--workers`: every scrape, whichever worker answers it, is the sum (SPEC §10).

Each test launches `python -m rhc.launch SERVICE --workers 2` on 127.0.0.1
port 0 (tests/worker_support.py), spreads requests over fresh connections
so that both workers serve some, and scrapes. A keep-alive connection to
each worker (found by the pid it answers) makes sure both answer scrapes.
Everything is killed by pid afterwards. rhc/scrapes.py says what the sum is.
"""
import http.client
import os
import signal
import time

import pytest
from prometheus_client.parser import text_string_to_metric_families

from rhc.exposition import CONTENT_TYPE
from metrics_support import promtool
from worker_support import Master, get_json, wait_exited

SERVICE = '''\
SERVER api 0
  METRICS /metrics
  ROUTE /hit$
    GET scrape_handlers.hit
  ROUTE /pid$
    GET scrape_handlers.pid
  ROUTE /block$
    GET scrape_handlers.block
'''

HIT = {'server': 'api', 'route': '/hit$', 'method': 'GET'}

pytestmark = pytest.mark.slow


@pytest.fixture
def start(tmp_path):
    path = tmp_path / 'service.micro'
    path.write_text(SERVICE)
    masters = []

    def run(*flags):
        master = Master([str(path), '--no-access-log', *flags], {'SERVER_API_HOST': '127.0.0.1'})
        masters.append(master)
        return master.wait_listening()
    yield run
    for master in masters:
        master.cleanup()


def scrape(port, conn=None, timeout=10):
    """The text of one scrape: on `conn` (keep-alive) when given, else a fresh connection."""
    own = conn is None
    conn = conn or http.client.HTTPConnection('127.0.0.1', port, timeout=timeout)
    try:
        conn.request('GET', '/metrics')
        response = conn.getresponse()
        body = response.read().decode('utf-8')
        assert response.status == 200, body
        assert response.getheader('Content-Type') == CONTENT_TYPE
        return body
    finally:
        if own:
            conn.close()


def samples(text):
    """{(sample name, sorted labels): value}, asserting no series repeats."""
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            key = (sample.name, tuple(sorted(sample.labels.items())))
            assert key not in found, f'duplicate series {key}'
            found[key] = sample.value
    return found


def value(text, name, **labels):
    return samples(text).get((name, tuple(sorted(labels.items()))))


def hits(port, count, start=0):
    """`count` hits, each on a fresh connection: the pids that answered."""
    return {get_json(port, f'/hit?size={n % 20}')[1]['pid'] for n in range(start, start + count)}


def connection_to_each(master, count=2, tries=300):
    """{pid: a keep-alive connection that worker accepted}, one per worker."""
    conns = {}
    for _ in range(tries):
        conn = http.client.HTTPConnection('127.0.0.1', master.port(), timeout=10)
        pid = get_json(master.port(), '/pid', conn)[1]['pid']
        if pid in conns:
            conn.close()
        else:
            conns[pid] = conn
            if len(conns) == count:
                return conns
    raise AssertionError(f'only {sorted(conns)} answered')


def metrics_dir(master):
    """The folder a master's workers meet in: `--worker-metrics DIR` on their command line."""
    with open(f'/proc/{master.workers()[0]}/cmdline', 'rb') as f:
        args = f.read().decode().split('\0')
    return args[args.index('--worker-metrics') + 1]


def stop(master, folder):
    """SIGTERM: every worker drains, the master exits 0 and removes the folder."""
    assert os.path.isdir(folder)
    master.signal(signal.SIGTERM)
    assert master.wait() == 0, master.log
    assert not os.path.exists(folder)


def total(text):
    return value(text, 'rhc_requests_total', status='200', **HIT)


def start_time(pid):
    """process_start_time_seconds of `pid`, as rhc.exposition computes it."""
    with open('/proc/stat') as f:
        boot = next(int(line.split()[1]) for line in f if line.startswith('btime '))
    with open(f'/proc/{pid}/stat') as f:
        fields = f.read().rpartition(')')[2].split()
    return boot + int(fields[19]) / os.sysconf('SC_CLK_TCK')


def max_fds(pid):
    with open(f'/proc/{pid}/limits') as f:
        return int(next(line for line in f if line.startswith('Max open files')).split()[3])


def test_every_scrape_reports_the_sum_over_the_workers(start):
    master = start('--workers', '2')
    port = master.port()
    count = 40
    assert len(hits(port, count)) == 2              # both workers served some
    conns = connection_to_each(master)
    texts = [scrape(port, conn) for _ in range(3) for conn in conns.values()]
    texts += [scrape(port) for _ in range(6)]
    promtool(texts[0])
    promtool(texts[-1])
    workers = master.workers()
    for text in texts:
        assert total(text) == count, text
        assert value(text, 'rhc_request_duration_seconds_count', **HIT) == count
        assert value(text, 'scrape_hits_total', kind='a') == count
        assert value(text, 'scrape_live_workers') == 2          # a gauge: summed
        # sizes 0..19 twice: 0 and 1 are <= 1, 0 to 10 are <= 10
        assert value(text, 'scrape_sizes_bucket', le='1.0') == 4
        assert value(text, 'scrape_sizes_bucket', le='10.0') == 22
        assert value(text, 'scrape_sizes_count') == count
        assert value(text, 'scrape_sizes_sum') == 2 * sum(range(20))
        assert value(text, 'rhc_connections_open', server='api') >= 2   # the two kept open
        assert value(text, 'process_max_fds') == sum(max_fds(pid) for pid in workers)
        assert value(text, 'process_start_time_seconds') == pytest.approx(start_time(master.pid))
        assert not [key for key in samples(text) if ('route', '/metrics') in key[1]]  # not counted
        names = [line.split()[2] for line in text.splitlines() if line.startswith('# TYPE ')]
        assert len(names) == len(set(names))
        assert len([line for line in text.splitlines() if line.startswith('# HELP ')]) == len(names)
    for conn in conns.values():
        conn.close()
    stop(master, metrics_dir(master))


def test_a_killed_worker_leaves_its_counts_behind(start):
    master = start('--workers', '2')
    port = master.port()
    assert len(hits(port, 30)) == 2
    before = scrape(port)           # every worker writes its numbers down for this one
    assert total(before) == 30
    victim = master.workers()[0]
    os.kill(victim, signal.SIGKILL)
    master.read_until(rf'worker {victim} was killed by SIGKILL after [\d.]+s; starting another')
    master.read_until(r'worker \d+ started')
    for _ in range(4):
        after = scrape(port)
        assert total(after) == 30, after
        assert value(after, 'scrape_hits_total', kind='a') == 30
        assert value(after, 'process_cpu_seconds_total') >= value(before, 'process_cpu_seconds_total')
    deadline = time.monotonic() + 10
    while len(master.workers()) < 2 or victim in master.workers():
        assert time.monotonic() < deadline, master.log
        time.sleep(0.05)
    hits(port, 10, start=30)
    for _ in range(4):
        assert total(scrape(port)) == 40
    promtool(scrape(port))
    folder = metrics_dir(master)
    assert sorted(os.listdir(folder)) == sorted([f'{pid}.json' for pid in master.workers()]
                                                + ['scrape.prom'])     # the dead one's is gone
    stop(master, folder)


def test_workers_replaced_by_sighup_leave_their_counts_behind(start):
    master = start('--workers', '2')
    port = master.port()
    old = set(master.workers())
    assert len(hits(port, 30)) == 2     # and no scrape yet: what they leave is written at exit
    master.signal(signal.SIGHUP)
    master.read_until('SIGHUP: every worker replaced', within=20)
    master.wait_replaced(old)
    for _ in range(4):
        assert total(scrape(port)) == 30
    hits(port, 5, start=30)
    assert total(scrape(port)) == 35
    stop(master, metrics_dir(master))


def test_a_blocked_worker_does_not_hang_the_scrape(start):
    master = start('--workers', '2')
    port = master.port()
    assert len(hits(port, 30)) == 2
    (blocked, stuck), (free, conn) = connection_to_each(master).items()
    assert total(scrape(port, conn)) == 30
    stuck.request('GET', '/block?s=10')     # its loop sleeps: it can write no file
    time.sleep(0.2)
    # Its numbers come from its last file; the scrape waits GATHER_WAIT for it at most,
    # and is answered long before it wakes.
    for _ in range(2):
        assert total(scrape(port, conn, timeout=8)) == 30
    hits_free = [get_json(port, '/hit', conn)[1]['pid'] for _ in range(5)]
    assert set(hits_free) == {free}
    assert total(scrape(port, conn, timeout=8)) == 35
    conn.close()
    folder = metrics_dir(master)
    os.kill(blocked, signal.SIGKILL)        # rather than wait for it to wake and drain
    master.read_until(rf'worker {blocked} was killed by SIGKILL after [\d.]+s; starting another')
    stuck.close()
    assert total(scrape(port)) == 35        # what it counted stays
    stop(master, folder)


def test_workers_whose_master_is_killed_remove_the_folder(start):
    master = start('--workers', '2', '--worker-timeout', '2')
    port = master.port()
    assert len(hits(port, 10)) == 2
    assert total(scrape(port)) == 10
    folder = metrics_dir(master)
    workers = master.workers()
    os.kill(master.pid, signal.SIGKILL)
    master.proc.wait(5)
    wait_exited(workers, 15, 'workers outlived their master')
    assert not os.path.exists(folder)
