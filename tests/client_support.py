"""Helpers shared by the client tests (no tests here).

- `load(lines, config=None)`: `micro.load_server` bound to 127.0.0.1; returns the service.
- `RawServer(script)`: a listening socket on 127.0.0.1 in a thread; each accepted
  connection runs `script(conn, index)` in its own thread. Counts accepts.
- `StdServer(handler_class)`: the stdlib ThreadingHTTPServer on 127.0.0.1.
- `open_fds()`, `new_fds(before)` and `loop_keys()` to show that no socket is left behind.
"""
import http.server
import os
import socket
import struct
import threading
import time

import rhc.micro as micro
from rhc.loop import get_loop


def load(lines, config=None, monkeypatch=None):
    """`micro.load_server` with every SERVER bound to 127.0.0.1 (via the environment)."""
    import micro as language
    names = language.parse(lines).servers
    saved = {}
    for name in names:
        key = f'SERVER_{name.upper()}_HOST'
        saved[key] = os.environ.get(key)
        os.environ[key] = '127.0.0.1'
    try:
        return micro.load_server(lines, config=config)
    finally:
        for key, value in saved.items():
            if value is None:
                del os.environ[key]
            else:
                os.environ[key] = value


def port_of(service, name=None):
    servers = service.servers
    return (servers[name] if name else next(iter(servers.values()))).port


def open_fds():
    """The process's open descriptors, as a set of (fd, what it points at)."""
    fds = set()
    for fd in os.listdir('/proc/self/fd'):
        try:
            fds.add((fd, os.readlink(f'/proc/self/fd/{fd}')))
        except OSError:
            pass
    return fds


def new_fds(before):
    """Descriptors open now that were not open at `before` (earlier tests may close theirs)."""
    return open_fds() - before


def loop_keys():
    """Sockets the default loop watches (waker and listeners included)."""
    return len(get_loop()._selector.get_map())


def refused_port():
    """A port on 127.0.0.1 that nothing listens on."""
    s = socket.socket()
    s.bind(('127.0.0.1', 0))
    port = s.getsockname()[1]
    s.close()
    return port


def read_request(conn, timeout=5):
    """Read one request head (and a Content-Length body); b'' when the peer closed."""
    conn.settimeout(timeout)
    data = b''
    while b'\r\n\r\n' not in data:
        try:
            chunk = conn.recv(65536)
        except OSError:
            return b''
        if not chunk:
            return b''
        data += chunk
    head, _, body = data.partition(b'\r\n\r\n')
    for line in head.split(b'\r\n')[1:]:
        name, _, value = line.partition(b':')
        if name.strip().lower() == b'content-length':
            length = int(value)
            while len(body) < length:
                chunk = conn.recv(65536)
                if not chunk:
                    break
                body += chunk
    return head


def reset(conn):
    """Close with a RST instead of a FIN."""
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0))
    conn.close()


def ok(body=b'{"ok": true}', extra=b''):
    return (b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: '
            + str(len(body)).encode() + b'\r\n' + extra + b'\r\n' + body)


class RawServer:
    """A hand-written server: `script(conn, index)` per accepted connection."""

    def __init__(self, script):
        self.script = script
        self.stopping = threading.Event()
        self.accepted = 0
        self.requests = 0
        self.conns = []
        self.threads = []
        self.errors = []
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(('127.0.0.1', 0))
        self.sock.listen(16)
        self.sock.settimeout(0.05)
        self.port = self.sock.getsockname()[1]
        self.url = f'http://127.0.0.1:{self.port}'
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while not self.stopping.is_set():
            try:
                conn, _ = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            index = self.accepted
            self.accepted += 1
            self.conns.append(conn)
            t = threading.Thread(target=self._run, args=(conn, index), daemon=True)
            self.threads.append(t)
            t.start()

    def _run(self, conn, index):
        try:
            self.script(self, conn, index)
        except OSError:
            pass
        except Exception as e:          # shown by stop()
            self.errors.append(e)
        finally:
            try:
                conn.close()
            except OSError:
                pass

    def request(self, conn):
        head = read_request(conn)
        if head:
            self.requests += 1
        return head

    def idle(self, seconds=10):
        """Hold the connection open, answering nothing, until stopped."""
        self.stopping.wait(seconds)

    def stop(self):
        self.stopping.set()
        self.thread.join(5)
        for conn in self.conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)     # wakes a script blocked in recv
            except OSError:
                pass
            try:
                conn.close()
            except OSError:
                pass
        for t in self.threads:
            t.join(5)
        self.sock.close()
        assert not self.errors, self.errors


def keep_answering(server, conn, index):
    """A well-behaved keep-alive server: one JSON answer per request."""
    while server.request(conn):
        conn.sendall(ok(b'{"n": %d}' % server.requests))


class StdServer:
    """`http.server.ThreadingHTTPServer` on 127.0.0.1 port 0, in a thread."""

    def __init__(self, handler_class):
        self.httpd = http.server.ThreadingHTTPServer(('127.0.0.1', 0), handler_class)
        self.httpd.daemon_threads = True
        self.httpd.connections = 0
        self.port = self.httpd.server_address[1]
        self.url = f'http://127.0.0.1:{self.port}'
        self.thread = threading.Thread(target=self.httpd.serve_forever,
                                       kwargs={'poll_interval': 0.05}, daemon=True)
        self.thread.start()

    @property
    def connections(self):
        return self.httpd.connections

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(5)


def wait_for(predicate, timeout=2.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return predicate()
