"""Slowloris in bulk, against a launched service: the wiring, end to end.

With SERVER_API_HEADER_TIMEOUT=0.5, 200 connections trickling header bytes
(one byte every 100 ms, a head that never ends) are all cut off at the
header timeout, not before; throughout, another client keeps getting 200s
promptly, and afterwards the server's descriptors are back to what they
were. The rules themselves (a trickled body, a silent connection, idle
keep-alive, a busy connection that stays open) are data tests in
test_protocol_data.py, on a fake clock.
"""
import os
import selectors
import socket
import threading
import time

import pytest

from conftest import Launched

pytestmark = [pytest.mark.slow, pytest.mark.timeout(60)]

HEADER_TIMEOUT = 0.5
N = 200
SERVICE = 'SERVER api 0\n  ROUTE /test/ping$\n    GET handlers.ping\n'


@pytest.fixture(scope='module')
def server(tmp_path_factory):
    path = tmp_path_factory.mktemp('slowloris') / 'slow.micro'
    path.write_text(SERVICE)
    launched = Launched([str(path), '--no-access-log'], env={
        'SERVER_API_HOST': '127.0.0.1',
        'SERVER_API_HEADER_TIMEOUT': str(HEADER_TIMEOUT)})
    try:
        launched.wait_listening()
        yield launched
    finally:
        launched.kill()


def server_fds(server):
    return len(os.listdir(f'/proc/{server.proc.pid}/fd'))


def settle_fds(server, baseline, wait=5.0):
    deadline = time.monotonic() + wait
    while server_fds(server) > baseline and time.monotonic() < deadline:
        time.sleep(0.05)
    return server_fds(server)


class Watchdog:
    """Another client: a fresh GET every 50 ms, recording status and latency."""

    def __init__(self, port):
        self.port = port
        self.results = []
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self.stopping.is_set():
            started = time.monotonic()
            try:
                with socket.create_connection(('127.0.0.1', self.port), timeout=3) as s:
                    s.sendall(b'GET /test/ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')
                    data = b''
                    while chunk := s.recv(4096):
                        data += chunk
                status = int(data.split(b' ', 2)[1]) if data else None
            except OSError as e:
                status = repr(e)
            self.results.append((status, time.monotonic() - started))
            self.stopping.wait(0.05)

    def stop(self):
        self.stopping.set()
        self.thread.join(5)
        statuses = {status for status, _ in self.results}
        slowest = max(latency for _, latency in self.results)
        return statuses, slowest, len(self.results)


def connect_many(port, n):
    socks = []
    for _ in range(n):
        s = socket.create_connection(('127.0.0.1', port), timeout=5)
        s.setblocking(False)
        socks.append(s)
    return socks


def watch_closing(socks, feed=None, interval=0.1, limit=6.0):
    """Until every socket is closed by the server (or `limit` s): call `feed(sock, i)`
    every `interval` s for each open one. Returns {sock: seconds until closed}."""
    selector = selectors.DefaultSelector()
    started = time.monotonic()
    for s in socks:
        selector.register(s, selectors.EVENT_READ)
    closed, received = {}, {}
    next_feed, tick = started, 0
    while len(closed) < len(socks) and time.monotonic() - started < limit:
        now = time.monotonic()
        if feed is not None and now >= next_feed:
            for s in socks:
                if s not in closed:
                    try:
                        feed(s, tick)
                    except (BlockingIOError, InterruptedError):
                        pass
                    except OSError:
                        closed[s] = time.monotonic() - started
                        selector.unregister(s)
            tick += 1
            next_feed += interval
        for key, _ in selector.select(timeout=0.02):
            s = key.fileobj
            try:
                data = s.recv(65536)
            except (BlockingIOError, InterruptedError):
                continue
            except OSError:
                data = b''
            if data:
                received[s] = received.get(s, b'') + data
            else:
                closed[s] = time.monotonic() - started
                selector.unregister(s)
    selector.close()
    return closed, received


def _close_all(socks):
    for s in socks:
        s.close()


def test_trickling_heads_are_cut_off_at_the_header_timeout(server):
    port = server.port()
    baseline = server_fds(server)
    head = b'GET /test/ping HTTP/1.1\r\nHost: x\r\nX-Slow: ' + b'a' * 1000
    watchdog = Watchdog(port)
    socks = connect_many(port, N)
    try:
        closed, received = watch_closing(
            socks, feed=lambda s, i: s.send(head[i:i + 1]), interval=0.1)
        statuses, slowest, count = watchdog.stop()
        assert len(closed) == N, f'{N - len(closed)} trickling connections still open'
        times = sorted(closed.values())
        assert times[0] > HEADER_TIMEOUT * 0.8, times[:5]     # not before the timeout
        assert times[-1] < HEADER_TIMEOUT + 2.0, times[-5:]
        assert not any(received.values())                   # closed without an answer
        assert statuses == {200} and count >= 10, (statuses, count)
        assert slowest < 1.0
    finally:
        _close_all(socks)
    assert settle_fds(server, baseline) <= baseline
