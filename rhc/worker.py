"""A worker's side of `--workers`: what it inherits from its master, and its heartbeat.

A master (rhc/supervisor.py) starts each worker as a fresh `python -m
rhc.launch` with hidden options: `--worker-pipe FD`, the write end of a pipe
to the master, `--worker-control FD`, the read end of one from it,
`--worker-socket NAME=FD` for each server, a socket the master bound and is
listening on, and for a service with METRICS `--worker-metrics DIR`, where
the workers' metrics meet (rhc/scrapes.py). Over the pipe the worker sends
one byte at a time, from its loop:

    HEARTBEAT   every `heartbeat_interval(timeout)` seconds while the loop turns
    READY       once, when SETUP has run and the servers accept
    STOPPING    once, when it begins to drain (from then on its stop is bounded
                by the grace period, not by heartbeats: TEARDOWN runs off the loop)
    SCRAPE      a scrape of this worker waits for the sum (rhc.scrapes)
    SNAPSHOT    this worker has written its metrics, as the master asked

and on the control pipe the master sends WRITE (write your metrics) and
GATHERED (the sum is ready).

A handler that blocks the loop stops the heartbeats, and the master kills
the worker after `--worker-timeout`. A pipe the master no longer reads
(it died) makes the worker stop as on SIGTERM, so no worker outlives it.
"""
import logging
import os
import signal

from rhc.scrapes import GATHERED, WRITE, WorkerMetrics
from rhc.transport import inherited_socket

log = logging.getLogger('rhc.worker')

HEARTBEAT = b'.'
READY = b'R'
STOPPING = b'S'
# From the master, when SIGHUP replaces this worker: stop accepting now (its
# replacement accepts on the same sockets) and finish what is in flight. No
# drain delay: the port stays served, so no balancer needs to notice.
RETIRE = signal.SIGUSR1
MAX_INTERVAL = 1.0


def heartbeat_interval(timeout):
    """How often a worker beats: several times per timeout, at most once a second."""
    return max(0.01, min(MAX_INTERVAL, timeout / 4))


def read_pipe(fd):
    """What a non-blocking pipe holds now: its bytes, b'' once the other end is gone
    (or the pipe broke), None when nothing is waiting."""
    try:
        return os.read(fd, 4096)
    except BlockingIOError:
        return None
    except OSError:
        return b''


def parse_sockets(specs):
    """{server name: socket} from `--worker-socket NAME=FD` values."""
    sockets = {}
    for spec in specs or ():
        name, _, fd = spec.rpartition('=')
        sockets[name] = inherited_socket(int(fd))
    return sockets


class MasterLink:
    """The worker's ends of its pipes: heartbeats from the loop, READY once; the metrics."""

    def __init__(self, loop, fd, timeout, control=None):
        for end in (fd, control):
            if end is not None:
                os.set_inheritable(end, False)
                os.set_blocking(end, False)
        self.loop = loop
        self.fd = fd
        self.control = control
        self.interval = heartbeat_interval(timeout)
        self.on_lost = None
        self.timer = None
        self.lost = False       # the master is gone
        self.metrics = None

    def gather_metrics(self, directory, snapshot):
        """Under a master that sums the workers' metrics in `directory`: the
        WorkerMetrics whose `scrape` is the METRICS route's handler."""
        self.metrics = WorkerMetrics(self.loop, directory, snapshot, self.tell)
        return self.metrics

    def start(self, readiness, on_lost):
        """Beat from now on; say READY once `readiness` is ready; `on_lost()` if the master goes."""
        self.on_lost = on_lost
        readiness.on_ready(lambda: self.tell(READY))
        if self.control is not None:
            self.loop.add_reader(self.control, self._hear)
        self._beat()

    def _hear(self):
        data = read_pipe(self.control)
        if data is None:
            return
        if not data:        # the master is gone: the heartbeat's write finds out too
            self._close_control()
            return
        if self.metrics is not None:
            if WRITE in data:
                self.metrics.asked()
            if GATHERED in data:
                self.metrics.gathered()

    def exiting(self):
        """The drain is over: write the metrics once more, for the master to keep; or,
        if the master is gone, remove them (the last worker out removes their folder)."""
        if self.metrics is not None:
            if self.lost:
                self.metrics.remove()
            else:
                self.metrics.write()

    def _beat(self):
        self.tell(HEARTBEAT)
        if self.fd is not None:
            self.timer = self.loop.call_later(self.interval, self._beat)

    def stopping(self):
        """Say the drain has begun, and beat no more."""
        self.tell(STOPPING)
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None

    def tell(self, byte):
        if self.fd is None:
            return
        try:
            os.write(self.fd, byte)
        except BlockingIOError:
            pass        # the master is behind on reading; it has heard from us lately
        except OSError:
            log.warning('worker %d: the master is gone; stopping', os.getpid())
            self.lost = True
            self.close()
            if self.on_lost is not None:
                self.on_lost()

    def _close_control(self):
        if self.control is not None:
            self.loop.forget(self.control)
            os.close(self.control)
            self.control = None

    def close(self):
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        self._close_control()
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None
