"""METRICS under `--workers`: every scrape reports the sum over the workers.

One worker answers a scrape (the kernel picks which); the others' numbers
live in their own processes. So the master gathers them on demand, through
files in a private directory it makes (mode 0700, removed when it exits) and
names to each worker (`--worker-metrics DIR`), and one-byte messages on the
pipes between them (rhc/worker.py):

1. The scraped worker writes its snapshot (rhc.exposition, as JSON) to
   DIR/PID.json, tells its master SCRAPE, and delays its answer.
2. The master tells every other worker WRITE; each writes its DIR/PID.json
   from its loop and says SNAPSHOT.
3. Once all have, or after GATHER_WAIT seconds, the master merges the live
   workers' files, the *archive* (below) and its own start time, renders
   the text once into DIR/scrape.prom, and tells the scraped worker
   GATHERED; the worker answers with that file.

A worker whose loop is blocked cannot write: the scrape waits GATHER_WAIT
for it at most, and not at all once its heartbeats are late, and its last
file stands in for it. Otherwise a scrape sees every request answered
before it was made: one that arrives during a round waits for the next. If
the master does not answer within MASTER_WAIT the scrape is answered 503: a
failed scrape, which Prometheus reads right, rather than a partial sum.

Nothing here runs but for a scrape, so serving a request costs what it does
in one process. Files are written whole and renamed over the old ones, so a
reader never sees half of one; there is one per live worker, plus
scrape.prom. The directory is made where `tempfile` makes them; if the
master is killed, the last of its workers to stop removes it.

What the sum means (prometheus_client's multiprocess mode chooses alike):

- Counters and histograms: the live workers' plus the archive. When a
  worker exits or is killed, the master adds the counters and histograms
  of its last file (a worker writes one more after its drain) to the
  archive, so replacing a worker (a crash, SIGHUP, the heartbeat timeout)
  makes no counter go backwards, which Prometheus would read as a reset.
  Scrapes only ever show what files said, so what a killed worker counted
  after its last file was never shown, and nothing shown is taken back.
  The archive keeps at most ARCHIVE_MAX_SERIES series per family; past
  that, further label values add up in the overflow series.
- Gauges (`rhc_requests_in_flight`, `rhc_connections_open`, handlers'
  gauges, `process_resident_memory_bytes`, `process_open_fds`...): the live
  workers' sum. `process_cpu_seconds_total` is a counter: the CPU time of
  every worker the master started.
- `process_start_time_seconds`: the master's start, when the counters
  started counting. The master's own memory, CPU and fds are not included.
"""
import json
import logging
import os
import time

from rhc.exposition import CONTENT_TYPE, merge, process_families, render
from rhc.metrics import DEFAULT_MAX_CHILDREN, OVERFLOW

log = logging.getLogger('rhc.scrapes')

# Worker to master, on its pipe (beside rhc.worker's HEARTBEAT, READY, STOPPING).
SCRAPE = b'M'           # I am scraped: gather the others
SNAPSHOT = b'D'         # my file is written
# Master to worker, on its control pipe.
WRITE = b'W'            # write your file
GATHERED = b'G'         # DIR/scrape.prom is the sum

GATHER_WAIT = 1.0       # seconds the master waits for the workers' files
MASTER_WAIT = 5.0       # seconds a scraped worker waits for its master
ARCHIVE_MAX_SERIES = DEFAULT_MAX_CHILDREN
SCRAPE_FILE = 'scrape.prom'
KEPT_TYPES = ('counter', 'histogram')

HEADERS = {'Content-Type': CONTENT_TYPE}
UNAVAILABLE = (503, b'the metrics of the other workers were not gathered in time\n',
               {'Content-Type': 'text/plain; charset=utf-8'})


def write_file(path, data):
    """Replace `path` with `data` (bytes) whole: written beside it, then renamed."""
    part = path + '.part'
    with open(part, 'wb') as f:
        f.write(data)
    os.replace(part, path)


def tell(fd, byte):
    """Write one message on a pipe that must never block us; whether it went."""
    try:
        os.write(fd, byte)
        return True
    except OSError:     # full (its reader is stuck: it is late anyway) or closed (it exited)
        return False


# -- the master's side --------------------------------------------------------------

class Gatherer:
    """Rounds of gathering for a master (rhc.supervisor): one per scrape, or per batch.

    `workers()` gives the live workers (with `pid`, `control`, `started`,
    `heard`, `stopping`, `killed`); one whose last heartbeat is older than
    `late_after` seconds is asked but not waited for.
    """

    def __init__(self, loop, directory, workers, late_after):
        self.loop = loop
        self.directory = directory
        self.workers = workers
        self.late_after = late_after
        self.archive = {'families': []}
        # Merged by min with the workers' own: the earliest, the master's.
        self.start = {'families': [family for family in process_families()
                                   if family['name'] == 'process_start_time_seconds']}
        self.files = {}             # pid -> (file identity, snapshot): read each version once
        self.active = False         # a round is on
        self.waiters = set()        # the scraped workers this round answers
        self.waiting_on = set()     # workers this round still waits for
        self.next_waiters = set()   # scraped during this round: the next one answers them
        self.timer = None

    def path(self, pid):
        return os.path.join(self.directory, f'{pid}.json')

    def asked(self, worker):
        """SCRAPE from `worker`."""
        if self.active:
            self.next_waiters.add(worker)
        else:
            self._start({worker})

    def answered(self, worker):
        """SNAPSHOT from `worker`."""
        if self.active and worker in self.waiting_on:
            self.waiting_on.discard(worker)
            if not self.waiting_on:
                self._finish()

    def gone(self, worker):
        """`worker` has exited: its counters join the archive, its file goes."""
        snapshot = self._read(worker.pid)
        self.files.pop(worker.pid, None)
        for path in (self.path(worker.pid), self.path(worker.pid) + '.part'):
            try:
                os.unlink(path)
            except OSError:
                pass
        if snapshot is not None:
            self.archive = absorb(self.archive, snapshot)
        self.waiters.discard(worker)
        self.next_waiters.discard(worker)
        self.answered(worker)

    def _start(self, waiters):
        self.active = True
        self.waiters = waiters
        self.waiting_on = set()
        now = time.monotonic()      # the clock of `heard`
        for worker in self.workers():
            if worker in waiters or worker.heard is None or worker.killed:
                continue
            if tell(worker.control, WRITE) and not worker.stopping \
                    and now - worker.heard <= self.late_after:
                self.waiting_on.add(worker)
        if self.waiting_on:
            self.timer = self.loop.call_later(GATHER_WAIT, self._finish)
        else:
            self._finish()

    def _finish(self):
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        path = os.path.join(self.directory, SCRAPE_FILE)
        try:
            write_file(path, self.exposition().encode('utf-8'))
        except Exception:
            log.exception('cannot gather the workers\' metrics')
            try:
                os.unlink(path)     # a scraped worker finding none answers 503
            except OSError:
                pass
        for worker in self.waiters:
            tell(worker.control, GATHERED)
        self.active = False
        self.waiters, self.waiting_on = set(), set()
        if self.next_waiters:
            waiters, self.next_waiters = self.next_waiters, set()
            self._start(waiters)

    def exposition(self):
        """The text of the sum: the archive, the live workers oldest first, the start."""
        live = [self._read(worker.pid) for worker in sorted(self.workers(), key=lambda w: w.started)]
        # The newest worker's definitions win (merge's resolve): it runs the current code.
        snapshots = [self.archive, *(s for s in live if s is not None), self.start]
        return render(merge(snapshots, resolve=True))

    def _read(self, pid):
        """A worker's last snapshot, or None if it wrote none (or none that reads)."""
        path = self.path(pid)
        known = self.files.get(pid)
        try:
            stat = os.stat(path)
            identity = (stat.st_ino, stat.st_mtime_ns, stat.st_size)
            if known is not None and known[0] == identity:
                return known[1]
            with open(path, 'rb') as f:
                snapshot = json.loads(f.read())
        except FileNotFoundError:
            return None if known is None else known[1]
        except (OSError, ValueError) as e:
            log.warning('cannot read the metrics of worker %d: %s', pid, e)
            return None if known is None else known[1]
        self.files[pid] = (identity, snapshot)
        return snapshot


def absorb(archive, snapshot, limit=ARCHIVE_MAX_SERIES):
    """The archive with a dead worker's counters and histograms added."""
    kept = {'families': [family for family in snapshot['families'] if family['type'] in KEPT_TYPES]}
    merged = merge([archive, kept], resolve=True)
    for family in merged['families']:
        _cap(family, limit)
    return merged


def _cap(family, limit):
    """At most `limit` series: the rest add up in the one whose labels are all OVERFLOW."""
    samples = family['samples']
    if len(samples) <= limit:
        return
    overflow = [OVERFLOW] * len(family['labels'])
    kept, extra = [], []
    for row in samples:
        (extra if row[0] == overflow or len(kept) >= limit - 1 else kept).append(row)
    folded = merge([{'families': [{**family, 'samples': [[overflow, *row[1:]] for row in extra]}]}])
    family['samples'] = kept + folded['families'][0]['samples']


# -- a worker's side ------------------------------------------------------------------

class WorkerMetrics:
    """A worker's file, and its scrapes waiting for the master's sum.

    `snapshot()` is this process's metrics now; `say(byte)` tells the master.
    The METRICS route's handler is `scrape`.
    """

    def __init__(self, loop, directory, snapshot, say):
        self.loop = loop
        self.directory = directory
        self.snapshot = snapshot
        self.say = say
        self.path = os.path.join(directory, f'{os.getpid()}.json')
        self.pending = []       # delayed scrapes
        self.timer = None

    def write(self):
        """Write this worker's file now; whether it is written."""
        try:
            data = json.dumps(self.snapshot(), separators=(',', ':')).encode('utf-8')
            write_file(self.path, data)
            return True
        except (OSError, ValueError) as e:
            log.warning('worker %d cannot write its metrics to %s: %s', os.getpid(), self.path, e)
            return False

    def remove(self):
        """The master is gone: remove this worker's file, and the folder if it is the last."""
        shared = os.path.join(self.directory, SCRAPE_FILE)
        for path in (self.path, self.path + '.part', shared, shared + '.part'):
            try:
                os.unlink(path)
            except OSError:
                pass
        try:
            os.rmdir(self.directory)
        except OSError:
            pass        # not empty: another worker is still on its way out

    def scrape(self, request):
        if not self.write():
            return UNAVAILABLE
        request.delay()
        self.pending.append(request)
        self.say(SCRAPE)
        if self.timer is None:
            self.timer = self.loop.call_later(MASTER_WAIT, self._late)
        return None

    def asked(self):
        """WRITE from the master."""
        if self.write():
            self.say(SNAPSHOT)

    def gathered(self):
        """GATHERED from the master: answer what waits with DIR/scrape.prom."""
        try:
            with open(os.path.join(self.directory, SCRAPE_FILE), 'rb') as f:
                answer = (200, f.read(), HEADERS)
        except OSError:
            answer = UNAVAILABLE
        self._answer(answer)

    def _late(self):
        self.timer = None
        log.warning('worker %d: the master did not gather the metrics within %.0fs; '
                    'the scrape is answered 503', os.getpid(), MASTER_WAIT)
        self._answer(UNAVAILABLE)

    def _answer(self, answer):
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        pending, self.pending = self.pending, []
        for request in pending:
            request.respond(*answer)
