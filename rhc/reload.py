"""`--reload`: serve in a child process, and start a fresh one when the code changes.

A development aid. The watcher polls `os.stat` (no dependency, no inotify)
on the files a service is made of: its micro file and every file it
IMPORTs, the `--config` file, and each `.py` file under the micro file's
folder. A change is first tried in a short-lived `--check` process, so a
broken micro file or a handler that fails to import leaves the old child
serving. The child runs in its own process group: a Ctrl-C at the terminal
reaches the watcher alone, which passes it on exactly once.
"""
import logging
import os
import signal
import subprocess
import sys
import tempfile
import time

import micro as language
from micro import MicroError

log = logging.getLogger('rhc.reload')

POLL_INTERVAL = 0.5    # seconds between polls of an idle watcher
SETTLE = 0.1           # changes closer together than this make one restart
MAX_SETTLE = 2.0       # ...but an editor that never stops writing still gets one
CHECK_TIMEOUT = 30.0   # a `--check` slower than this counts as failed
STOP_MARGIN = 5.0      # beyond the child's grace period, for TEARDOWN, before SIGKILL
STEP = 0.05            # how often a stopping child or a running check is looked at
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)


def signature(path):
    """What says a file changed (editors that save by renaming change the inode)."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_mtime_ns, st.st_size, st.st_ino


def _skipped(name):
    return name.startswith('.') or name == '__pycache__'


class PythonTree:
    """The `.py` files under a folder, kept without listing it on every poll.

    Adding, removing or renaming an entry changes its folder's mtime, so an
    idle poll costs one stat per folder; only a folder whose mtime moved is
    listed again (with what is below it). Hidden folders, `__pycache__` and
    virtual environments are left out.
    """

    def __init__(self, root):
        self.root = root
        self.folders = {}   # folder -> its signature when last listed
        self.files = {}     # folder -> [.py paths directly in it]
        self._list(root)

    def paths(self):
        """Every `.py` file now under the root."""
        if self.root not in self.folders:   # gone, or never there: it may be back
            self._list(self.root)
        for folder, seen in list(self.folders.items()):
            if folder in self.folders and signature(folder) != seen:
                self._forget(folder)
                self._list(folder)
        return [path for paths in self.files.values() for path in paths]

    def _list(self, folder):
        seen = signature(folder)   # before listing: a change during it shows next poll
        try:
            entries = list(os.scandir(folder))
        except OSError:
            return
        self.folders[folder] = seen
        if any(entry.name == 'pyvenv.cfg' for entry in entries):
            self.files[folder] = []     # a virtual environment: not the service's code
            return
        self.files[folder] = sorted(entry.path for entry in entries
                                    if entry.name.endswith('.py') and not _skipped(entry.name)
                                    and entry.is_file())
        for entry in entries:
            if not _skipped(entry.name) and entry.is_dir(follow_symlinks=False):
                self._list(entry.path)

    def _forget(self, folder):
        below = folder + os.sep
        for known in [f for f in self.folders if f == folder or f.startswith(below)]:
            del self.folders[known]
            del self.files[known]


def micro_files(source):
    """(the micro files `source` reads, whether it parsed); those read before an error count."""
    files = []
    try:
        language.parse(source, files)
    except MicroError:
        return files, False
    return files, True


class Watched:
    """The files a service is made of, and what each looked like at the last poll."""

    def __init__(self, source, config_file=None):
        self.source = source
        self.config_file = config_file and os.path.abspath(config_file)
        files, _ = micro_files(source)
        top = files[0] if files else os.path.abspath(source)   # a missing file: its creation shows
        self.micro = set(files) or {top}
        self.tree = PythonTree(os.path.dirname(top))
        self.signatures = self._stat()

    def refresh(self):
        """Parse the micro file again for what it IMPORTs now, and take the files
        as they are as the new baseline (a file just imported is no change)."""
        files, parsed = micro_files(self.source)
        # After an error, keep watching what was read before: fixing it must show.
        self.micro = set(files) if parsed else self.micro | set(files)
        self.signatures = self._stat()

    def paths(self):
        paths = self.micro.union(self.tree.paths())
        if self.config_file:
            paths.add(self.config_file)
        return paths

    def _stat(self):
        return {path: signature(path) for path in self.paths()}

    def changes(self):
        """The files that changed, appeared or went away since the last call, sorted."""
        now = self._stat()
        changed = sorted(path for path in now.keys() | self.signatures.keys()
                         if now.get(path) != self.signatures.get(path))
        self.signatures = now
        return changed


def child_args(argv):
    """`argv` without `--reload` (nor an abbreviation argparse took for it)."""
    return [arg for arg in argv if not (len(arg) > 3 and '--reload'.startswith(arg))]


def exit_status(returncode):
    """The shell's convention: a child killed by signal N is 128 + N."""
    return returncode if returncode >= 0 else 128 - returncode


def describe(changed):
    def shown(path):
        relative = os.path.relpath(path)
        return path if relative.startswith(os.pardir) else relative
    more = f' (and {len(changed) - 1} more)' if len(changed) > 1 else ''
    return shown(changed[0]) + more


class Reloader:
    """Keeps one child serving the latest version that checks."""

    def __init__(self, loop, argv, source, config_file=None, grace=10.0, drain_delay=0.0):
        launch = [sys.executable, '-m', 'rhc.launch']
        self.loop = loop
        self.child_argv = launch + child_args(argv)
        self.check_argv = launch + [source, '--check'] + (['--config', config_file] if config_file else [])
        self.stop_wait = grace + drain_delay + STOP_MARGIN
        self.watched = Watched(source, config_file)
        self.child = None
        self.signals = []   # stop signals received, in order

    def run(self):
        """Serve and watch until SIGTERM, SIGINT or SIGHUP; the exit status of the stop."""
        for signum in STOP_SIGNALS:
            self.loop.add_signal_handler(signum, lambda signum=signum: self.signals.append(signum))
        try:
            self.start()
            while not self.stopped_within(POLL_INTERVAL):
                self.reap()
                changed = self.watched.changes()
                if changed:
                    self.reload(self.settle(changed))
            return self.stop_child()
        finally:
            self.loop.remove_signal_handlers()
            self.kill()

    def stopped_within(self, seconds, count=0):
        """Wait up to `seconds` for stop signals; true once more than `count` have come."""
        return self.loop.run_until(lambda: len(self.signals) > count, timeout=seconds)

    def settle(self, changed):
        """`changed`, and whatever else changes until things are quiet for SETTLE."""
        changed = set(changed)
        deadline = time.monotonic() + MAX_SETTLE
        while time.monotonic() < deadline and not self.stopped_within(SETTLE):
            more = self.watched.changes()
            if not more:
                break
            changed.update(more)
        return sorted(changed)

    def reload(self, changed):
        self.watched.refresh()
        problem = self.check()
        if self.signals:
            return
        if problem is not None:
            sys.stderr.write(problem if problem.endswith('\n') else problem + '\n')
            log.warning('not reloading: %s does not check; %s', describe(changed),
                        'the previous process keeps serving' if self.child else 'nothing is serving')
            return
        log.info('reloading: %s', describe(changed))
        self.stop_child()
        if not self.signals:
            self.start()

    def check(self):
        """None if the new version passes `--check`, else what the check said."""
        with tempfile.TemporaryFile('w+') as errors:
            proc = subprocess.Popen(self.check_argv, stdin=subprocess.DEVNULL,
                                    stdout=subprocess.DEVNULL, stderr=errors, text=True)
            if not self.wait(proc, CHECK_TIMEOUT, len(self.signals)):
                proc.kill()
                proc.wait()
                return f'the check did not finish within {CHECK_TIMEOUT:g}s'
            errors.seek(0)
            return None if proc.returncode == 0 else errors.read()

    def wait(self, proc, seconds, count):
        """Wait for `proc` to end; False after `seconds`, or when a stop signal beyond `count` comes."""
        deadline = time.monotonic() + seconds
        while proc.poll() is None:
            left = deadline - time.monotonic()
            if left <= 0 or self.stopped_within(min(STEP, left), count):
                return False
        return True

    def start(self):
        self.child = subprocess.Popen(self.child_argv, start_new_session=True)
        log.info('serving in process %d', self.child.pid)

    def reap(self):
        """Report a child that ended on its own; the next change starts another."""
        if self.child is not None and self.child.poll() is not None:
            log.warning('process %d exited with status %d; waiting for a change',
                        self.child.pid, exit_status(self.child.returncode))
            self.child = None

    def stop_child(self):
        """Stop the child the way the launcher stops (gracefully; a further signal
        to the watcher is passed on and ends it at once); its exit status, 0 if none."""
        child, self.child = self.child, None
        if child is None or child.poll() is not None:
            return 0
        passed = len(self.signals[:1])     # the watcher's stop signals passed on so far
        self._signal(child, self.signals[0] if self.signals else signal.SIGTERM)
        deadline = time.monotonic() + self.stop_wait
        while not self.wait(child, deadline - time.monotonic(), passed):
            if len(self.signals) > passed:
                self._signal(child, self.signals[passed])
                passed += 1
            else:
                log.warning('process %d still running after %.1fs; killing it',
                            child.pid, self.stop_wait)
                self._signal(child, signal.SIGKILL)
                child.wait()
        return exit_status(child.returncode)

    def kill(self):
        """Never leave the child behind, even when the watcher itself fails."""
        if self.child is not None and self.child.poll() is None:
            self._signal(self.child, signal.SIGKILL)
            self.child.wait()

    @staticmethod
    def _signal(child, signum):
        # The whole group: anything the service started goes too. Only a child not yet
        # reaped is signalled, so its pid (the group's id) cannot belong to another process.
        if child.poll() is None:
            try:
                os.killpg(child.pid, signum)
            except ProcessLookupError:
                pass


def watch(loop, argv, args):
    """Run `--reload` for parsed launcher `args` (from `argv`); the exit status."""
    reloader = Reloader(loop, argv, args.source, args.config, args.grace, args.drain_delay)
    return reloader.run()
