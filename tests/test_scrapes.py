"""rhc.scrapes without processes: the master's rounds on files, a fake loop and fake workers;
what the archive keeps of a worker gone."""
import json
import os
import time
import types

import pytest

from rhc import scrapes
from rhc.metrics import OVERFLOW, Registry


class FakeLoop:
    def __init__(self):
        self.timers = []

    def call_later(self, delay, fn, *args):
        handle = types.SimpleNamespace(fn=fn, args=args, cancelled=False)
        handle.cancel = lambda: setattr(handle, 'cancelled', True)
        self.timers.append(handle)
        return handle

    def fire(self):
        timers, self.timers = self.timers, []
        for handle in timers:
            if not handle.cancelled:
                handle.fn(*handle.args)


def registry(hits, busy=1):
    r = Registry(process=False)
    r.counter('hits_total', 'Hits.', labels=('kind',)).labels('a').inc(hits)
    r.gauge('busy', 'Busy.').set(busy)
    r.histogram('size', 'Sizes.', buckets=(1,)).observe(hits)
    return r


class FakeWorker:
    """What rhc.scrapes reads of an rhc.supervisor.Worker."""

    def __init__(self, pid, control):
        self.pid = pid
        self.control = control
        self.started = self.heard = time.monotonic()
        self.stopping = self.killed = False


class Workers:
    """Fake workers, with real control pipes and files."""

    def __init__(self, directory):
        self.directory = directory
        self.live = []
        self.reads = {}

    def add(self, pid):
        read, write = os.pipe()
        os.set_blocking(read, False)
        worker = FakeWorker(pid, write)
        self.reads[pid] = read
        self.live.append(worker)
        return worker

    def write(self, worker, snapshot):
        scrapes.write_file(os.path.join(self.directory, f'{worker.pid}.json'),
                          json.dumps(snapshot).encode())

    def heard(self, worker):
        try:
            return os.read(self.reads[worker.pid], 100)
        except BlockingIOError:
            return b''

    def close(self):
        for worker in self.live:
            os.close(worker.control)
        for read in self.reads.values():
            os.close(read)


@pytest.fixture
def setting(tmp_path):
    workers = Workers(str(tmp_path))
    loop = FakeLoop()
    gatherer = scrapes.Gatherer(loop, str(tmp_path), lambda: workers.live, late_after=2.0)
    yield gatherer, workers, loop
    workers.close()


def scraped(tmp_path):
    return (tmp_path / scrapes.SCRAPE_FILE).read_text()


def line(text, start):
    return [row for row in text.splitlines() if row.startswith(start)]


def test_a_round_asks_the_others_and_answers_when_all_have_written(setting, tmp_path):
    gatherer, workers, loop = setting
    a, b = workers.add(101), workers.add(102)
    workers.write(a, registry(3).snapshot())
    gatherer.asked(a)
    assert workers.heard(b) == scrapes.WRITE and workers.heard(a) == b''
    gatherer.asked(b)                   # a scrape during the round waits for the next one
    workers.write(b, registry(4).snapshot())
    gatherer.answered(b)
    assert workers.heard(a) == scrapes.GATHERED + scrapes.WRITE     # and the next round, for b
    text = scraped(tmp_path)
    assert line(text, 'hits_total') == ['hits_total{kind="a"} 7']
    assert line(text, 'busy') == ['busy 2.0']
    assert line(text, 'size_count') == ['size_count 2']
    gatherer.answered(a)
    assert workers.heard(b) == scrapes.GATHERED
    assert loop.timers and all(t.cancelled for t in loop.timers)


def test_a_worker_that_does_not_write_in_time_is_its_last_file(setting, tmp_path):
    gatherer, workers, loop = setting
    a, b = workers.add(101), workers.add(102)
    workers.write(b, registry(4).snapshot())
    workers.write(a, registry(3).snapshot())
    gatherer.asked(a)
    assert workers.heard(a) == b''
    loop.fire()                         # GATHER_WAIT later
    assert workers.heard(a) == scrapes.GATHERED
    assert line(scraped(tmp_path), 'hits_total') == ['hits_total{kind="a"} 7']


def test_late_stopping_and_unstarted_workers_are_not_waited_for(setting, tmp_path):
    gatherer, workers, loop = setting
    a, late, stopping, new = (workers.add(pid) for pid in (101, 102, 103, 104))
    late.heard -= 10
    stopping.stopping = True
    new.heard = None
    workers.write(a, registry(3).snapshot())
    workers.write(late, registry(4).snapshot())
    gatherer.asked(a)
    assert workers.heard(a) == scrapes.GATHERED and not loop.timers     # at once
    assert workers.heard(late) == workers.heard(stopping) == scrapes.WRITE   # asked all the same
    assert workers.heard(new) == b''
    assert line(scraped(tmp_path), 'hits_total') == ['hits_total{kind="a"} 7']


def test_a_worker_gone_leaves_its_counters_and_histograms_not_its_gauges(setting, tmp_path):
    gatherer, workers, loop = setting
    a, b = workers.add(101), workers.add(102)
    workers.write(a, registry(3).snapshot())
    workers.write(b, registry(4).snapshot())
    gatherer.asked(a)
    workers.live.remove(b)              # it died in the round: the round need not wait
    gatherer.gone(b)
    assert not os.path.exists(tmp_path / '102.json')
    assert workers.heard(a) == scrapes.GATHERED
    text = scraped(tmp_path)
    assert line(text, 'hits_total') == ['hits_total{kind="a"} 7']
    assert line(text, 'size_count') == ['size_count 2']
    assert line(text, 'busy') == ['busy 1.0']
    c = workers.add(103)                # its replacement starts from zero
    workers.write(c, registry(1).snapshot())
    gatherer.asked(c)
    gatherer.answered(a)
    assert line(scraped(tmp_path), 'hits_total') == ['hits_total{kind="a"} 8']
    assert sorted(os.listdir(tmp_path)) == ['101.json', '103.json', scrapes.SCRAPE_FILE]


def test_the_sum_takes_the_masters_start_time(setting, tmp_path):
    gatherer, workers, loop = setting
    a = workers.add(101)
    snapshot = registry(1).snapshot()
    snapshot['families'].append({'name': 'process_start_time_seconds', 'type': 'gauge',
                                 'help': 'Start time of the process since unix epoch in seconds.',
                                 'labels': [], 'samples': [[[], 4e9]]})
    workers.write(a, snapshot)
    gatherer.asked(a)
    start, = line(scraped(tmp_path), 'process_start_time_seconds ')
    assert float(start.split()[1]) < 4e9
    assert float(start.split()[1]) == gatherer.start['families'][0]['samples'][0][1]


def test_the_archive_keeps_a_bounded_number_of_series_and_every_count():
    archive = {'families': []}
    for worker in range(5):
        r = Registry(process=False)
        paths = r.counter('paths_total', 'Paths.', labels=('path',))
        for n in range(4):
            paths.labels(f'/{worker}/{n}').inc(n + 1)
        archive = scrapes.absorb(archive, r.snapshot(), limit=6)
        family, = archive['families']
        assert len(family['samples']) <= 6
        assert sum(row[1] for row in family['samples']) == 10 * (worker + 1)
    assert family['samples'][-1][0] == [OVERFLOW]

