"""Helpers for the tests of what a newcomer reads: README, examples, notebooks.

`fetch` calls a service with `http.client`; `launch_env` is the environment
that moves every server of a micro file to 127.0.0.1 port 0; `free_port`
picks a port for code that insists on a fixed one. All traffic stays on
127.0.0.1.
"""
import http.client
import json
import os
import socket

import micro

TESTS = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(TESTS)
EXAMPLES = os.path.join(ROOT, 'examples')


class Reply:
    """A response, read whole: status, headers (case-insensitive), body, json."""

    def __init__(self, response):
        self.status = response.status
        self.reason = response.reason
        self.headers = response.headers
        self.body = response.read()

    @property
    def text(self):
        return self.body.decode('utf-8')

    @property
    def json(self):
        return json.loads(self.body)

    def __repr__(self):
        return f'<Reply {self.status} {self.body[:200]!r}>'


def fetch(port, method, path, body=None, headers=None):
    """One request to 127.0.0.1:`port`; a dict or list body is sent as JSON."""
    headers = dict(headers or {})
    if isinstance(body, (dict, list)):
        body = json.dumps(body)
        headers.setdefault('Content-Type', 'application/json')
    conn = http.client.HTTPConnection('127.0.0.1', port, timeout=5)
    try:
        conn.request(method, path, body=body, headers=headers)
        return Reply(conn.getresponse())
    finally:
        conn.close()


def server_names(path):
    """The SERVER names and their ports as written in the micro file at `path`."""
    return {name: server.port for name, server in micro.parse(path).servers.items()}


def launch_env(path, **extra):
    """Env that serves every server of `path` on 127.0.0.1, on a port the OS picks."""
    env = {}
    for name in server_names(path):
        key = name.upper().replace('.', '_').replace('-', '_')
        env[f'SERVER_{key}_PORT'] = '0'
        env[f'SERVER_{key}_HOST'] = '127.0.0.1'
    env.update(extra)
    return env


def free_port():
    """A port free on 127.0.0.1 just now (for code that names a fixed port)."""
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def example(name, filename='service.micro'):
    return os.path.join(EXAMPLES, name, filename)
