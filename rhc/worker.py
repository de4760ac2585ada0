"""A worker's side of `--workers`: what it inherits from its master, and its heartbeat.

A master (rhc/supervisor.py) starts each worker as a fresh `python -m
rhc.launch` with two hidden options: `--worker-pipe FD`, the write end of
a pipe to the master, and `--worker-socket NAME=FD` for each server, a
socket the master bound and is listening on. Over the pipe the worker sends
one byte at a time, from its loop:

    HEARTBEAT   every `heartbeat_interval(timeout)` seconds while the loop turns
    READY       once, when SETUP has run and the servers accept
    STOPPING    once, when it begins to drain (from then on its stop is bounded
                by the grace period, not by heartbeats: TEARDOWN runs off the loop)

A handler that blocks the loop stops the heartbeats, and the master kills
the worker after `--worker-timeout`. A pipe the master no longer reads
(it died) makes the worker stop as on SIGTERM, so no worker outlives it.
"""
import logging
import os
import signal

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


def parse_sockets(specs):
    """{server name: socket} from `--worker-socket NAME=FD` values."""
    sockets = {}
    for spec in specs or ():
        name, _, fd = spec.rpartition('=')
        sockets[name] = inherited_socket(int(fd))
    return sockets


class MasterLink:
    """The worker's end of its pipe: heartbeats from the loop, READY once."""

    def __init__(self, loop, fd, timeout):
        os.set_inheritable(fd, False)
        os.set_blocking(fd, False)
        self.loop = loop
        self.fd = fd
        self.interval = heartbeat_interval(timeout)
        self.on_lost = None
        self.timer = None

    def start(self, readiness, on_lost):
        """Beat from now on; say READY once `readiness` is ready; `on_lost()` if the master goes."""
        self.on_lost = on_lost
        readiness.on_ready(lambda: self.tell(READY))
        self._beat()

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
            self.close()
            if self.on_lost is not None:
                self.on_lost()

    def close(self):
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None
