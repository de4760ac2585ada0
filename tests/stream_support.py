"""Helpers of the streaming tests: the routes of tests/stream_handlers.py, and h11 as the client.

h11 (an independent, strict HTTP/1.1 implementation) writes each request
and reads each streamed answer: chunked, close-delimited, HEAD, and the
next answer on the same connection. What it cannot parse fails the test.
"""
import socket
import time

import h11

ROUTES = {
    '/reset': 'reset', '/state': 'state', '/chunks': 'chunks', '/empty': 'empty',
    '/status': 'with_status', '/nobody': 'no_body_status', '/big': 'big', '/forever': 'forever',
    '/forever_async': 'forever_async', '/slow': 'slow_async', '/waits': 'waits_then_streams',
    '/fails': 'fails_midway', '/bad_item': 'bad_item', '/bad_header': 'bad_header',
    '/events': 'events', '/pinged': 'pinged', '/resume': 'resume', '/idle': 'idle_events',
    '/plain': 'state',
}


def service_lines(name='s'):
    lines = [f'SERVER {name} 0']
    for path, handler in ROUTES.items():
        lines += [f'  ROUTE {path}$', f'    GET stream_handlers.{handler}']
    lines += [r'  ROUTE /file/(\S+)$', '    GET stream_handlers.file',
              r'  ROUTE /download/(\S+)$', '    GET stream_handlers.download']
    return lines


class H11Client:
    """One socket, driven by an h11 client connection."""

    def __init__(self, port, timeout=10, rcvbuf=None):
        self.sock = socket.socket()
        if rcvbuf:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(timeout)
        self.sock.connect(('127.0.0.1', port))
        self.conn = h11.Connection(h11.CLIENT)
        self.received = 0       # bytes read from the socket

    def request(self, method, target, headers=(), version='1.1', send=True):
        """Send a request (or, with send=False, only tell h11 of one already sent raw)."""
        event = h11.Request(method=method, target=target, http_version=version,
                            headers=[('Host', 'streams.test'), *headers])
        data = self.conn.send(event) + self.conn.send(h11.EndOfMessage())
        if send:
            self.sock.sendall(data)
        return data

    def next_event(self):
        while True:
            event = self.conn.next_event()
            if event is not h11.NEED_DATA:
                return event
            data = self.sock.recv(256 * 1024)
            self.received += len(data)
            self.conn.receive_data(data)

    def head(self):
        event = self.next_event()
        assert isinstance(event, h11.Response), event
        return event.status_code, {n.decode().lower(): v.decode('latin-1')
                                   for n, v in event.headers}

    def body(self, until=None):
        """The body's bytes up to EndOfMessage (or until `until(bytes so far)` is true)."""
        data = bytearray()
        while True:
            event = self.next_event()
            if isinstance(event, h11.EndOfMessage):
                return bytes(data)
            assert isinstance(event, h11.Data), event
            data += event.data
            if until is not None and until(data):
                return bytes(data)

    def response(self, method='GET', target='/', headers=(), version='1.1'):
        self.request(method, target, headers, version)
        status, fields = self.head()
        return status, fields, self.body()

    def next_cycle(self):
        """Ready for the next request on this connection (h11 checks both sides are DONE)."""
        assert self.conn.our_state is h11.DONE and self.conn.their_state is h11.DONE, \
            (self.conn.our_state, self.conn.their_state)
        self.conn.start_next_cycle()

    def closed_by_server(self):
        self.sock.settimeout(5)
        return self.sock.recv(1) == b''

    def close(self):
        self.sock.close()


def wait_for(predicate, timeout=10.0, step=0.02):
    """Poll until `predicate()` is true; its last value."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(step)
