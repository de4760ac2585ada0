"""Real front ends for the tests: nginx, started on 127.0.0.1 with a config of the test's.

Not a test module. `Nginx(server_block)` writes a config around `server_block`
(the text inside `server { ... }`, with `{port}` for the port it listens on),
starts nginx in the foreground in its own temporary prefix, and stops it by
its pid.
"""
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

NGINX = shutil.which('nginx') or ('/usr/sbin/nginx' if os.path.exists('/usr/sbin/nginx') else None)

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
