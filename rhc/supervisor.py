"""`--workers N`: a master that starts, watches and replaces worker processes.

The master serves nothing and imports no handler code. It parses the micro
file and reads the settings only for each server's host and port (with the
CONFIG lines' `validate=` left out, so no callable of the service is
imported), binds the ports, and starts every worker as a fresh `python -m
rhc.launch` process: nothing of the master's memory is shared, and a
worker started after SIGHUP runs the code and config as they are now.

Sockets: for each worker *slot* the master binds one listening socket per
server, all with SO_REUSEPORT on one port (port 0: the first picks it), so
the kernel spreads new connections over the slots. A listening socket that
closes resets the connections waiting in its queue; the master holds every
slot's sockets open, so a worker that dies or is replaced leaves its queue
to the next worker of its slot instead.

Everything happens on one loop: signals, the workers' pipes (rhc/worker.py)
and a tick. For a service with METRICS the master also gathers the workers'
metrics for each scrape (rhc/scrapes.py), in a private directory it removes
when it exits.

- A worker that exits is replaced, its exit status logged.
- One whose heartbeats stop for `timeout` seconds (its loop is blocked) is
  killed with SIGKILL and replaced. Start-up is not timed: SETUP may take
  what it needs (a Kubernetes startupProbe bounds that).
- CRASH_LIMIT workers in a row dying at once (within CRASH_WINDOW of
  starting, or before they were ready) stop them all: exit status 1.
- SIGTERM or SIGINT: every worker drains as `rhc.launch` alone does; exit 0
  once all have exited. A second signal is passed on, which ends their
  drains at once, and the exit status is 1.
- SIGHUP: slot by slot, a new worker starts; once it is ready the old one of
  its slot retires (stops accepting, finishes what it has, exits).
"""
import dataclasses
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

from micro import MicroError

from rhc.config import load_settings
from rhc.scrapes import GATHER_WAIT, SCRAPE, SNAPSHOT, Gatherer
from rhc.transport import listening_socket, port_of
from rhc.worker import READY, RETIRE, STOPPING, heartbeat_interval, read_pipe

log = logging.getLogger('rhc.supervisor')

CRASH_WINDOW = 1.0      # seconds: a worker dying this soon after it started died at once
CRASH_LIMIT = 5         # that many in a row is a crash loop
STOP_MARGIN = 5.0       # beyond drain delay and grace (TEARDOWN), before a stopping worker is killed
MAX_TICK = 0.25         # seconds between looks at heartbeats and deadlines
EXIT_OK = 0
EXIT_FAILED = 1         # a crash loop
EXIT_INTERRUPTED = 1    # a second SIGTERM or SIGINT cut the drain short


def worker_count(asked):
    """`--workers 0` means one per CPU this process may run on."""
    return asked if asked > 0 else len(os.sched_getaffinity(0))


def _without_validators(model):
    configs = {name: dataclasses.replace(c, validate=None) for name, c in model.configs.items()}
    return dataclasses.replace(model, configs=configs)


def bind_slots(model, config_file, count):
    """([{server name: socket}] one dict per slot, {server name: port}) for the active servers."""
    settings = load_settings(_without_validators(model), config_file)
    slots, ports = [{} for _ in range(count)], {}
    for name, server in model.servers.items():
        prefix = f'server.{name}.'
        if not settings[prefix + 'is_active']:
            continue
        host, port = settings[prefix + 'host'], settings[prefix + 'port']
        try:
            for slot in slots:
                slot[name] = listening_socket(host, port, reuse_port=True)
                port = port_of(slot[name])
        except OSError as e:
            close_slots(slots)
            raise MicroError(server.source, server.line,
                             f'server {name} cannot listen on port {port}: {e.strerror}') from None
        ports[name] = port
    return slots, ports


def close_slots(slots):
    for slot in slots:
        for sock in slot.values():
            sock.close()
        slot.clear()


def exit_description(returncode):
    if returncode < 0:
        return f'was killed by {signal.Signals(-returncode).name}'
    return f'exited with status {returncode}'


class Worker:
    """One worker process, as the master sees it."""

    def __init__(self, slot, generation, proc, pipe, control):
        self.slot = slot
        self.generation = generation    # SIGHUP starts a new one
        self.proc = proc
        self.pipe = pipe                # the read end of its pipe
        self.control = control          # the write end of the one to it
        self.started = time.monotonic()
        self.heard = None               # when it last beat; None before its loop first turned
        self.ready = False
        self.stop_by = None             # once told to stop (or it said it is stopping): a deadline
        self.killed = False

    @property
    def pid(self):
        return self.proc.pid

    @property
    def stopping(self):
        return self.stop_by is not None


class Supervisor:
    """The master's loop: keep one serving worker per slot until told to stop."""

    def __init__(self, loop, argv, slots, ports, timeout, stop_wait, metrics_dir=None):
        self.loop = loop
        self.argv = [sys.executable, '-m', 'rhc.launch', *argv]
        self.gatherer = None
        if metrics_dir is not None:
            self.argv += ['--worker-metrics', metrics_dir]
            # Heartbeats this late: a blocked loop, whose scrape answer is not waited for.
            late = max(2 * heartbeat_interval(timeout), GATHER_WAIT)
            self.gatherer = Gatherer(loop, metrics_dir, lambda: self.workers, late)
        self.slots = slots
        self.ports = ports
        self.timeout = timeout
        self.stop_wait = stop_wait      # drain delay + grace + margin
        self.workers = []
        self.generation = 0
        self.to_roll = []               # slots a SIGHUP has yet to replace
        self.in_a_row = 0               # workers that died at once, in a row
        self.status = None              # the exit status, once stopping
        self.announced = False
        self.tick = max(0.01, min(MAX_TICK, timeout / 4))

    def run(self):
        """Supervise until every worker has exited after a stop; the exit status."""
        loop = self.loop
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, lambda signum=signum: self.stop(signum))
        loop.add_signal_handler(signal.SIGHUP, self.reload)
        loop.add_signal_handler(signal.SIGCHLD, self.manage)
        try:
            self.manage()
            self._tick()
            loop.run_until(lambda: self.status is not None and not self.workers)
        finally:
            loop.remove_signal_handlers()
            for worker in self.workers:     # only if the loop itself failed
                self._signal(worker, signal.SIGKILL)
                worker.proc.wait()
                os.close(worker.control)
            close_slots(self.slots)
            if self.gatherer is not None:
                shutil.rmtree(self.gatherer.directory, ignore_errors=True)
        log.info('all workers have exited')
        return self.status

    def _tick(self):
        self.manage()
        self.loop.call_later(self.tick, self._tick)

    def manage(self):
        """Reap, enforce deadlines and heartbeats, replace, roll: what every event leads to."""
        now = time.monotonic()
        self.reap(now)
        for worker in self.workers:
            if worker.stopping and not worker.killed and now > worker.stop_by:
                log.warning('worker %d still running %.1fs after it was told to stop; killing it',
                            worker.pid, self.stop_wait)
                self.kill(worker)
        if self.status is not None:
            return
        self.check_heartbeats(now)
        for slot in range(len(self.slots)):
            if not any(w.slot == slot and not w.stopping for w in self.workers):
                self.spawn(slot)
        self.roll()
        self.announce()

    # -- workers coming and going ---------------------------------------------------

    def spawn(self, slot):
        read, write = os.pipe()
        control_read, control = os.pipe()
        sockets = self.slots[slot]
        argv = self.argv + ['--worker-pipe', str(write), '--worker-control', str(control_read)]
        argv += [f'--worker-socket={name}={sock.fileno()}' for name, sock in sockets.items()]
        try:
            # Its own session: a Ctrl-C at the terminal reaches the master alone, which
            # passes it on once (a second one would end the drain).
            proc = subprocess.Popen(argv, pass_fds=[write, control_read,
                                                    *(s.fileno() for s in sockets.values())],
                                    stdin=subprocess.DEVNULL, start_new_session=True)
        except OSError as e:
            os.close(read)
            os.close(control)
            log.error('cannot start a worker: %s', e)
            self.died_at_once()
            return
        finally:
            os.close(write)
            os.close(control_read)
        os.set_blocking(read, False)
        os.set_blocking(control, False)
        worker = Worker(slot, self.generation, proc, read, control)
        self.workers.append(worker)
        self.loop.add_reader(read, lambda: self.hear(worker))
        log.info('worker %d started', worker.pid)

    def hear(self, worker):
        """What a worker's loop says: heartbeats, READY, STOPPING, the metrics' SNAPSHOT and
        SCRAPE; EOF as it exits."""
        data = read_pipe(worker.pipe)
        if data is None:
            return
        if not data:
            self.loop.remove_reader(worker.pipe)
            return
        worker.heard = time.monotonic()
        if STOPPING in data and not worker.stopping:
            worker.stop_by = worker.heard + self.stop_wait
        if self.gatherer is not None:
            if SNAPSHOT in data:
                self.gatherer.answered(worker)
            if SCRAPE in data:
                self.gatherer.asked(worker)
        if READY in data and not worker.ready:
            worker.ready = True
            self.manage()

    def reap(self, now):
        for worker in list(self.workers):
            code = worker.proc.poll()
            if code is None:
                continue
            self.workers.remove(worker)
            if self.gatherer is not None:
                self.gatherer.gone(worker)
            self.loop.forget(worker.pipe)
            os.close(worker.pipe)
            os.close(worker.control)
            if worker.stopping and code == 0:
                log.info('worker %d exited', worker.pid)
                continue
            if self.status is not None:
                log.warning('worker %d %s', worker.pid, exit_description(code))
                continue
            age = now - worker.started
            log.warning('worker %d %s after %.1fs%s; starting another', worker.pid,
                        exit_description(code), age, '' if worker.ready else ', never ready')
            if not worker.ready or age < CRASH_WINDOW:
                self.died_at_once()
            else:
                self.in_a_row = 0

    def died_at_once(self):
        self.in_a_row += 1
        if self.in_a_row >= CRASH_LIMIT and self.status is None:
            log.error('%d workers in a row died at once (within %.0fs of starting or before '
                      'they were ready): stopping', self.in_a_row, CRASH_WINDOW)
            self.stop(None, EXIT_FAILED)

    def check_heartbeats(self, now):
        for worker in self.workers:
            if worker.heard is not None and not worker.stopping and now - worker.heard > self.timeout:
                log.error('worker %d: no heartbeat for %.1fs (its loop is blocked); killing it',
                          worker.pid, now - worker.heard)
                self.kill(worker)

    def kill(self, worker):
        worker.killed = True
        if worker.stop_by is None:
            worker.stop_by = time.monotonic()
        self._signal(worker, signal.SIGKILL)

    def announce(self):
        if self.announced or not all(any(w.slot == slot and w.ready for w in self.workers)
                                     for slot in range(len(self.slots))):
            return
        self.announced = True
        for name, port in self.ports.items():
            log.info('listening on %s port %d', name, port)
        log.info('%d workers ready', len(self.slots))

    # -- SIGHUP: one slot at a time, the new worker ready before the old one retires ------

    def reload(self):
        if self.status is not None:
            return
        self.generation += 1
        self.to_roll = list(range(len(self.slots)))
        log.info('SIGHUP: replacing %d workers one by one', len(self.slots))
        self.manage()

    def roll(self):
        while self.to_roll:
            slot = self.to_roll[0]
            new = [w for w in self.workers if w.slot == slot and not w.stopping
                   and w.generation == self.generation]
            if not new:
                self.spawn(slot)
                return
            if not any(w.ready for w in new):
                return
            for worker in self.workers:
                if worker.slot == slot and worker.generation < self.generation and not worker.stopping:
                    log.info('worker %d is ready; worker %d retires', new[0].pid, worker.pid)
                    worker.stop_by = time.monotonic() + self.stop_wait
                    self._signal(worker, RETIRE)
            self.to_roll.pop(0)
            if not self.to_roll:
                log.info('SIGHUP: every worker replaced')

    # -- stopping -----------------------------------------------------------------------

    def stop(self, signum, status=EXIT_OK):
        """The first stop drains every worker; a second signal makes them end at once."""
        now = time.monotonic()
        if self.status is None:
            self.status = status
            if signum is not None:
                log.info('stopping: %s; draining %d workers', signal.Signals(signum).name,
                         len(self.workers))
            for worker in self.workers:
                if not worker.stopping:     # a retiring worker drains already
                    worker.stop_by = now + self.stop_wait
                    self._signal(worker, signal.SIGTERM)
            # The workers hold the sockets they accept on; the master needs its copies no more.
            close_slots(self.slots)
            return
        if signum is None:
            return
        log.warning('second %s during the drain: the workers close their connections now',
                    signal.Signals(signum).name)
        self.status = EXIT_INTERRUPTED
        for worker in self.workers:
            if not worker.killed:
                self._signal(worker, signal.SIGTERM)

    @staticmethod
    def _signal(worker, signum):
        # Only a worker not yet reaped is signalled, so its pid cannot be another process's.
        if worker.proc.poll() is None:
            try:
                os.kill(worker.pid, signum)
            except ProcessLookupError:
                pass


def supervise(loop, argv, model, args):
    """Run `--workers` for the parsed launcher `args`; the exit status. MicroError if a port
    cannot be bound."""
    count = worker_count(args.workers)
    slots, ports = bind_slots(model, args.config, count)
    log.info('master %d: starting %d workers', os.getpid(), count)
    stop_wait = args.drain_delay + args.grace + STOP_MARGIN
    metrics_dir = None
    if any(server.metrics is not None for server in model.servers.values()):
        metrics_dir = tempfile.mkdtemp(prefix='rhc-metrics-')     # mode 0700
    return Supervisor(loop, argv, slots, ports, args.worker_timeout, stop_wait, metrics_dir).run()
