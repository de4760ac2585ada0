"""Real front ends for the tests: nginx and haproxy, on 127.0.0.1 with configs of the test's.

Not a test module. `Nginx(server_block)` writes a config around `server_block`
(the text inside `server { ... }`, with `{port}` for the port it listens on),
starts nginx in the foreground in its own temporary prefix, and stops it by
its pid. `HAProxy(servers)` balances over `servers` ({name: port}),
health-checking a path of theirs, and reports what it thinks of each one
through its stats socket; it too runs in the foreground and is stopped by pid.
"""
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

NGINX = shutil.which('nginx') or ('/usr/sbin/nginx' if os.path.exists('/usr/sbin/nginx') else None)
HAPROXY = shutil.which('haproxy') or (
    '/usr/sbin/haproxy' if os.path.exists('/usr/sbin/haproxy') else None)

_CONFIG = """
daemon off;
master_process off;
worker_processes 1;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 256; }}
http {{
    access_log off;
    client_body_temp_path {prefix}/body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
    server {{
        listen 127.0.0.1:{port};
        {server}
    }}
}}
"""


def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


class Nginx:
    """nginx in front of something; `port` is where it listens."""

    def __init__(self, server_block):
        self.prefix = tempfile.mkdtemp(prefix='rhc-nginx-')
        self.port = free_port()
        config = os.path.join(self.prefix, 'nginx.conf')
        with open(config, 'w') as f:
            f.write(_CONFIG.format(prefix=self.prefix, port=self.port,
                                   server=server_block.replace('{port}', str(self.port))))
        self.proc = subprocess.Popen([NGINX, '-p', self.prefix, '-c', config],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(('127.0.0.1', self.port), timeout=0.5).close()
                return
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError('nginx did not start: ' + self.errors())
                time.sleep(0.05)

    def errors(self):
        try:
            with open(os.path.join(self.prefix, 'error.log')) as f:
                return f.read()[-2000:]
        except OSError:
            return ''

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc.stderr.close()
        shutil.rmtree(self.prefix, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


_HAPROXY_CONFIG = """
global
    maxconn 2000
    stats socket {prefix}/admin.sock mode 600 level admin
defaults
    mode http
    timeout connect 2s
    timeout client 30s
    timeout server 30s
    # A check is sent every 100 ms, but may take up to a second to be answered: a
    # connection waiting in the queue of a worker being replaced is answered late, not lost.
    timeout check 1s
    # A connection refused is retried, on another server: it sent nothing.
    retries 3
    option redispatch
frontend front
    bind 127.0.0.1:{port}
    default_backend rhc
backend rhc
    balance roundrobin
    option httpchk
    http-check send meth GET uri {check} ver HTTP/1.1 hdr Host localhost
    http-check expect status 200
    default-server inter {inter}ms fastinter {inter}ms downinter {inter}ms fall {fall} rise 1
{servers}
"""


class HAProxy:
    """haproxy balancing over `servers` ({name: port} on 127.0.0.1), checking `check`.

    `port` is where it listens; `states()` says what it thinks of each server now.
    """

    def __init__(self, servers, check='/ready', inter_ms=100, fall=1):
        """`fall` failed checks in a row mark a server down (1: at the first, as a
        rolling restart wants; more where one slow check on a loaded machine is no news)."""
        self.prefix = tempfile.mkdtemp(prefix='rhc-haproxy-')
        self.port = free_port()
        self.config = os.path.join(self.prefix, 'haproxy.cfg')
        lines = '\n'.join(f'    server {name} 127.0.0.1:{port} check'
                          for name, port in servers.items())
        with open(self.config, 'w') as f:
            f.write(_HAPROXY_CONFIG.format(prefix=self.prefix, port=self.port, check=check,
                                           inter=inter_ms, fall=fall, servers=lines))
        self.errors = open(os.path.join(self.prefix, 'stderr'), 'w+')
        self.proc = subprocess.Popen([HAPROXY, '-db', '-f', self.config],
                                     stdout=subprocess.DEVNULL, stderr=self.errors)
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(('127.0.0.1', self.port), timeout=0.5).close()
                self.states()
                return
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError('haproxy did not start: ' + self.stderr())
                time.sleep(0.05)

    def stderr(self):
        self.errors.seek(0)
        return self.errors.read()[-2000:]

    def command(self, text):
        """One command on the stats socket; its answer."""
        with socket.socket(socket.AF_UNIX) as s:
            s.settimeout(5)
            s.connect(os.path.join(self.prefix, 'admin.sock'))
            s.sendall(text.encode() + b'\n')
            answer = b''
            while chunk := s.recv(65536):
                answer += chunk
        return answer.decode()

    def states(self):
        """{server name: 'UP', 'DOWN', ...} as haproxy sees them now."""
        rows = self.command('show stat').splitlines()
        header = rows[0].lstrip('# ').split(',')
        found = {}
        for row in rows[1:]:
            fields = dict(zip(header, row.split(',')))
            if fields.get('pxname') == 'rhc' and fields.get('svname') not in ('BACKEND', None):
                found[fields['svname']] = fields['status'].split()[0]
        return found

    def wait_state(self, name, state, within=15):
        deadline = time.monotonic() + within
        while self.states().get(name) != state:
            if time.monotonic() > deadline:
                raise AssertionError(f'haproxy: server {name} is {self.states().get(name)}, '
                                     f'not {state}, after {within}s')
            time.sleep(0.02)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.errors.close()
        shutil.rmtree(self.prefix, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
