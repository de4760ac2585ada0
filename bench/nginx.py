"""nginx in the benchmark: the gateway's backend, and a peer for pipelining.

Both are one master and one worker with access logging off. The backend runs
beside the load generator (it must never be the bottleneck: it answers from
memory, keeps connections alive for a million requests) and counts the
connections it accepted with stub_status, which is how the report tells how
many backend connections each gateway opened.
"""
import os
import re
import shutil
import subprocess
import tempfile
import time

from harness import LOAD_CPU, free_port, request, stop_group

QUOTE_JSON = ('{"id": $1, "symbol": "ACME", "price": 123.45, "currency": "USD", '
              '"exchange": "XNYS", "quote": "the backend answers from memory"}')
STATUS_PATH = '/nginx_status'

CONFIG = """\
worker_processes 1;
daemon off;
pid {workdir}/nginx.pid;
error_log stderr warn;
{user}
events {{ worker_connections 16384; }}
http {{
    access_log off;
    keepalive_requests 1000000;
    keepalive_timeout 300s;
    client_body_temp_path {workdir}/body;
    proxy_temp_path {workdir}/proxy;
    fastcgi_temp_path {workdir}/fastcgi;
    uwsgi_temp_path {workdir}/uwsgi;
    scgi_temp_path {workdir}/scgi;
    server {{
        listen 127.0.0.1:{port} backlog=4096;
        location = {status} {{ stub_status; }}
        location = /test/ping {{
            default_type application/json;
            return 200 '{{"ping": "pong"}}';
        }}
        location ~ ^/quote/(\\d+)$ {{
            default_type application/json;
            return 200 '{quote}';
        }}
    }}
}}
"""


def write_config(port, workdir):
    """The path of an nginx.conf serving /test/ping, /quote/ID and stub_status on port."""
    path = os.path.join(workdir, 'nginx.conf')
    # As root, nginx would hand its worker to `nobody`, who cannot read the scratch directory.
    user = 'user root;' if os.geteuid() == 0 else ''
    with open(path, 'w') as f:
        f.write(CONFIG.format(workdir=workdir, port=port, status=STATUS_PATH, user=user,
                              quote=QUOTE_JSON))
    return path


def argv(port, workdir):
    """The command line of nginx serving write_config's configuration in the foreground."""
    return ['nginx', '-e', 'stderr', '-p', workdir, '-c', write_config(port, workdir)]


def quote(quote_id):
    """What the backend answers to GET /quote/ID, as a Python object."""
    import json
    return json.loads(QUOTE_JSON.replace('$1', str(quote_id)))


class Backend:
    """The gateway's backend: nginx pinned to LOAD_CPU, on a free port, for the whole run."""

    def __init__(self):
        self.port = free_port()
        self.url = f'http://127.0.0.1:{self.port}'
        self.workdir = tempfile.mkdtemp(prefix='rhc-bench-nginx-')
        self.proc = None
        self.own = 0        # connections this object opened itself (probes)

    def _request(self, path):
        answer = request(self.port, 'GET', path, timeout=1.0)
        self.own += 1       # a refused connection was never accepted: count only answers
        return answer

    def start(self, timeout=10.0):
        log = open(os.path.join(self.workdir, 'output.log'), 'wb')
        self.proc = subprocess.Popen(['taskset', '-c', LOAD_CPU, *argv(self.port, self.workdir)],
                                     stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f'nginx exited with {self.proc.returncode}: {self.output()}')
            try:
                if self._request('/quote/1')[0] == 200:
                    return self
            except OSError:
                pass
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f'nginx did not answer within {timeout:.0f}s: {self.output()}')

    def accepted(self):
        """Connections accepted so far from others than this object (its probes)."""
        _, body = self._request(STATUS_PATH)
        # "Active connections: 1 \nserver accepts handled requests\n 5 5 9 \n..."
        match = re.search(rb'requests\s+(\d+)\s+\d+\s+\d+', body)
        if not match:
            raise RuntimeError(f'unexpected stub_status answer: {body!r:.200}')
        return int(match.group(1)) - self.own

    def output(self):
        try:
            with open(os.path.join(self.workdir, 'output.log'), 'rb') as f:
                return f.read()[-1500:].decode('utf-8', 'replace').strip()
        except OSError:
            return ''

    def stop(self):
        if self.proc is not None:
            stop_group(self.proc)
        shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
