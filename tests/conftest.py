"""Shared fixtures: a server on its own loop in a thread, and a launched service.

Servers bind port 0 on 127.0.0.1 and are always stopped. Handlers used by
the micro sources in tests live in tests/handlers.py (`handlers.NAME`).
"""
import os
import re
import select
import signal
import subprocess
import sys
import threading
import time

import pytest

import micro
from rhc.loop import Loop
from rhc.service import Service

TESTS = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(TESTS)
if TESTS not in sys.path:
    sys.path.insert(0, TESTS)


class Running:
    """A service served by a loop in a background thread."""

    def __init__(self, lines, config=None, environ=None):
        model = micro.parse(lines)
        env = {f'SERVER_{name.upper()}_HOST': '127.0.0.1' for name in model.servers}
        env.update(environ or {})
        self.loop = Loop()
        self.service = Service(model, self.loop, config_file=config, environ=env)
        self.service.listen()
        self.service.setup()
        self.service.start()
        self.thread = threading.Thread(target=self.loop.run, daemon=True)
        self.thread.start()

    def port(self, name=None):
        servers = self.service.servers
        return (servers[name] if name else next(iter(servers.values()))).port

    @property
    def url(self):
        return f'http://127.0.0.1:{self.port()}'

    def call(self, fn, *args):
        """Run `fn(*args)` on the server's loop and return its result."""
        done = threading.Event()
        box = []

        def run():
            try:
                box.append(fn(*args))
            finally:
                done.set()
        self.loop.call_soon_threadsafe(run)
        assert done.wait(5)
        return box[0] if box else None

    def stop(self):
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.service.close()
        self.loop.close()


@pytest.fixture
def serve():
    """`serve(lines, config=None, environ=None)` -> Running, stopped after the test."""
    running = []

    def start(lines, config=None, environ=None):
        running.append(Running(lines, config, environ))
        return running[-1]
    yield start
    for r in running:
        r.stop()


class Launched:
    """`python -m rhc.launch` in a subprocess; ports read from its log."""

    def __init__(self, args, env=None, cwd=None, module='rhc.launch'):
        full_env = dict(os.environ)
        full_env['PYTHONPATH'] = os.pathsep.join([ROOT, TESTS, full_env.get('PYTHONPATH', '')])
        full_env.update(env or {})
        self.proc = subprocess.Popen([sys.executable, '-m', module, *args],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     env=full_env, cwd=cwd or ROOT, text=True)
        self.log = []
        self.ports = {}

    def wait_listening(self, count=1, timeout=30):
        deadline = time.monotonic() + timeout
        while len(self.ports) < count:
            line = self.readline(deadline)
            m = re.search(r'listening on (\S+) port (\d+)', line)
            if m:
                self.ports[m.group(1)] = int(m.group(2))
        return self

    def readline(self, deadline):
        """One line of the service's stderr. It is read from the descriptor a
        byte at a time: a buffered readline could take two lines at once and
        leave select() waiting for the second, and reading no further than the
        line leaves the rest for `communicate()`."""
        fd = self.proc.stderr.fileno()
        line = b''
        while not line.endswith(b'\n'):
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError('launched service said nothing in time:\n'
                                     + ''.join(self.log) + line.decode(errors='replace'))
            ready, _, _ = select.select([fd], [], [], left)
            if ready:
                byte = os.read(fd, 1)
                if not byte:
                    raise AssertionError('launched service exited:\n' + ''.join(self.log)
                                         + line.decode(errors='replace'))
                line += byte
        text = line.decode(errors='replace')
        self.log.append(text)
        return text

    def port(self, name=None):
        return self.ports[name] if name else next(iter(self.ports.values()))

    def terminate(self, timeout=15):
        """SIGTERM, then wait; returns (exit code, the rest of stdout, the rest of stderr)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        out, err = self.proc.communicate(timeout=timeout)
        self.log.append(err)
        return self.proc.returncode, out, ''.join(self.log)

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.communicate(timeout=5)


@pytest.fixture
def launch():
    """`launch(*args, env=None)` -> Launched (not yet waited on), killed after the test."""
    launched = []

    def start(*args, env=None, cwd=None, module='rhc.launch'):
        launched.append(Launched(list(args), env, cwd, module))
        return launched[-1]
    yield start
    for proc in launched:
        proc.kill()


@pytest.fixture(autouse=True)
def _fresh_default_loop():
    """Each test gets a fresh process loop, and loses what it loaded onto it."""
    import rhc.micro
    yield
    rhc.micro.reset()


@pytest.fixture(scope='session')
def certificate(tmp_path_factory):
    """(certfile, keyfile) of a self-signed certificate for 127.0.0.1 (openssl CLI)."""
    import shutil
    if shutil.which('openssl') is None:
        pytest.skip('no openssl command')
    where = tmp_path_factory.mktemp('cert')
    certfile, keyfile = str(where / 'cert.pem'), str(where / 'key.pem')
    result = subprocess.run(
        ['openssl', 'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2',
         '-keyout', keyfile, '-out', certfile, '-subj', '/CN=127.0.0.1',
         '-addext', 'subjectAltName=IP:127.0.0.1'],
        capture_output=True, text=True, timeout=20)
    if result.returncode != 0:
        pytest.skip(f'openssl could not make a certificate: {result.stderr[-300:]}')
    return certfile, keyfile


def unverified_context():
    """A client SSLContext that accepts any certificate (for self-signed test servers)."""
    import ssl
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context
