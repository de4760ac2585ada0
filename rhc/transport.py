"""Sockets on the loop: a Transport per connection, a Listener per port, outbound connects.

Only this module, `tls.py` and the loop's waker touch sockets. A protocol
(the server's connection, the client's exchange) sees its connection
through a transport and is called, always in this order:

    connection_made(transport)
    data_received(data)*        bytes as they arrive
    eof_received()?             the peer closed its side; return True to keep writing
    connection_lost(exc)        once, last; exc None for a clean close

and, for flow control around the write buffer's water marks, at any time
between the first and the last:

    pause_writing()             the buffer grew past `high_water`
    resume_writing()            it drained to `low_water`

`connection_lost` comes on a later loop turn when the protocol's own call
(`close`, `abort`, a `write` that failed) ended the connection, so it never
runs inside the protocol's code; when the peer or a timer ended it, it
comes at once.

An outbound connect that never gets that far calls `connection_failed(exc)`
instead of `connection_made`, and nothing else.
"""
import _socket
import errno
import logging
import os
import socket

log = logging.getLogger('rhc.transport')

# A read allocates this much and then shrinks to what came. Kept under malloc's
# mmap threshold (128 KiB): above it, every read is mmap, mremap and munmap,
# and faults its pages in afresh.
RECV_SIZE = 64 * 1024
SEND_NOW = 64 * 1024     # gathered bytes that are sent without waiting for the turn's end
HIGH_WATER = 1024 * 1024
LOW_WATER = 256 * 1024
BACKLOG = max(1024, socket.SOMAXCONN)
ACCEPT_BATCH = 64
ACCEPT_RETRY = 0.25     # seconds to pause accepting when out of descriptors
OUT_OF_DESCRIPTORS = frozenset((errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM))
CONNECT_IN_PROGRESS = frozenset((errno.EINPROGRESS, errno.EWOULDBLOCK, errno.EALREADY))
_AGAIN = (BlockingIOError, InterruptedError)


class Transport:
    """One connected socket: reads go to the protocol, writes are buffered and flow-controlled."""

    _WAIT = _AGAIN      # what a non-blocking call raises when it must wait (TLS adds its own)
    high_water = HIGH_WATER
    low_water = LOW_WATER

    __slots__ = ('loop', 'sock', 'protocol', 'peer', 'progressed', 'sent', '_buffer', '_queued',
                 '_blocked', '_closing', '_closed', '_reading', '_writing_paused', '_linger',
                 '_linger_timer')

    def __init__(self, loop, sock, protocol, peer=None):
        self.loop = loop
        self.sock = sock
        self.protocol = protocol
        self.peer = peer
        self.progressed = 0.0       # when buffered bytes last moved (a stalled peer shows here)
        self.sent = 0               # bytes the socket has taken, in all
        self._buffer = bytearray()  # what the socket has not taken yet (None once closed)
        self._queued = False        # a send waits for the end of the loop's turn
        self._blocked = False       # the socket is full: the loop watches it for writing
        self._closing = False
        self._closed = False
        self._reading = False
        self._writing_paused = False
        self._linger = 0.0
        self._linger_timer = None

    def start(self):
        """Tell the protocol the connection is made, and start reading."""
        self.protocol.connection_made(self)
        if not self._closing:
            self._reading = True
            self.loop.add_reader(self.sock, self._read_ready)
        return self

    # -- reading ------------------------------------------------------------

    def recv(self):
        """Bytes read now (b'' at EOF), None when none are ready; OSError when broken."""
        try:
            return self.sock.recv(RECV_SIZE)
        except _AGAIN:
            return None

    def _read_ready(self):
        # The hot path: one recv, straight to the protocol (TLS reads through recv()).
        try:
            data = self.sock.recv(RECV_SIZE)
        except _AGAIN:
            return
        except OSError as exc:
            return self._finish(exc, True)
        if data:
            self.protocol.data_received(data)
        else:
            self._eof()

    def _eof(self):
        if self.protocol.eof_received():
            self.pause_reading()      # half-closed: we may still write
        else:
            self.close()

    def pause_reading(self):
        if self._reading:
            self._reading = False
            self.loop.remove_reader(self.sock)

    def resume_reading(self):
        if not self._reading and not self._closing:
            self._reading = True
            self.loop.add_reader(self.sock, self._read_ready)

    # -- writing ------------------------------------------------------------

    def write(self, data):
        """Send `data`: small writes are gathered and sent at the end of the loop's turn.

        One send for all of a turn's answers wakes the peer once, not once per
        answer. What reaches SEND_NOW goes at once, so large bodies stream as
        they are written; what the socket does not take waits for it in the buffer.
        """
        if self._closing or not data:
            return
        buffer = self._buffer
        if not buffer and len(data) >= SEND_NOW:
            return self._send(data, False)      # nothing waits before it: no copy
        buffer += data
        if self._blocked:
            pass                                # _write_ready sends it when it can
        elif len(buffer) >= SEND_NOW:
            return self._send(buffer, False)
        elif not self._queued:
            self._queued = True
            self.loop.call_at_turn_end(self._send_queued)
        if len(buffer) > self.high_water:
            self._pause_writing()

    def _send_queued(self):
        self._queued = False
        if self._buffer and not self._blocked:
            self._send(self._buffer, True)

    def _write_ready(self):
        self._send(self._buffer, True)

    def _send(self, data, now):
        """Offer `data` (the buffer, or a large write that skips it) to the socket; watch
        the socket while the buffer holds the rest. `now`: the loop called, not the protocol."""
        try:
            sent = self.sock.send(data)
        except self._WAIT:
            sent = 0
        except OSError as exc:
            return self._finish(exc, now)
        self.sent += sent
        buffer = self._buffer
        if data is buffer:
            del buffer[:sent]
        elif sent < len(data):
            buffer += memoryview(data)[sent:]
        if buffer:
            if sent or not self._blocked:
                self.progressed = self.loop.time()
            if not self._blocked:
                self._blocked = True
                self.loop.add_writer(self.sock, self._write_ready)
            if len(buffer) > self.high_water:
                self._pause_writing()
        elif self._blocked:
            self._blocked = False
            self.loop.remove_writer(self.sock)
        if self._writing_paused and len(buffer) <= self.low_water:
            self._writing_paused = False
            self.protocol.resume_writing()
        if not buffer and self._closing and not self._closed:
            self._after_flush()

    def _pause_writing(self):
        if not self._writing_paused:
            self._writing_paused = True
            self.protocol.pause_writing()

    def get_write_buffer_size(self):
        return len(self._buffer) if self._buffer else 0

    def set_protocol(self, protocol):
        """Hand the connection to another protocol (a pooled client socket changes hands)."""
        self.protocol = protocol

    # -- closing --------------------------------------------------------------

    def is_closing(self):
        return self._closing

    def close(self, linger=0.0):
        """Send what is buffered, then close.

        With `linger`, half-close first and go on reading (dropping what comes)
        for up to that many seconds, until the peer closes too: closing with
        the peer's bytes unread would send a reset, which can destroy our last
        answer (a 413 to a client still uploading) before the peer reads it.
        """
        if self._closing:
            return
        self._closing = True
        self._linger = linger
        if linger > 0:
            # Keep reading, but into the void: the socket stays watched, so
            # this changes a callback and costs no system call.
            self._reading = False
            self.loop.add_reader(self.sock, self._drain)
        else:
            self.pause_reading()
        if not self._buffer:
            self._after_flush()

    def abort(self):
        """Close now, dropping what the socket does not take at once.

        What this turn gathered is offered to it first, as it would have been
        had the turn ended: a body cut short still arrives up to the cut.
        """
        self._closing = True
        if self._buffer and not self._blocked and not self._closed:
            try:
                self.sent += self.sock.send(self._buffer)
            except OSError:
                pass
        self._finish(None)

    def _after_flush(self):
        if self._linger <= 0:
            return self._finish(None)
        try:
            self.sock.shutdown(socket.SHUT_WR)
        except OSError:
            return self._finish(None)
        self._linger_timer = self.loop.call_later_coarse(self._linger, self._finish, None, True)

    def _drain(self):
        try:
            data = self.sock.recv(RECV_SIZE)
        except _AGAIN:
            return
        except OSError:
            data = b''
        if not data:
            self._finish(None, True)

    def _finish(self, exc, now=False):
        """The one way out: forget the socket, close it, and tell the protocol once
        (`now` when no protocol code is running: the peer or a timer ended it)."""
        if self._closed:
            return
        self._closed = self._closing = True
        self._reading = False
        if self._linger_timer is not None:
            self._linger_timer.cancel()
            self._linger_timer = None
        self._buffer = None
        self.loop.forget(self.sock)
        try:
            self.sock.close()
        except OSError:
            pass
        # Let go of the protocol: the two point at each other, and a cycle per
        # connection would wait for the cyclic collector to be freed.
        protocol, self.protocol = self.protocol, None
        if now:
            protocol.connection_lost(exc)
        else:
            self.loop.call_soon(protocol.connection_lost, exc)


def listening_socket(host, port, reuse_port=False, backlog=BACKLOG):
    """A TCP socket bound to (host, port) and listening; OSError if it cannot be."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
        sock.listen(backlog)
    except OSError:
        sock.close()
        raise
    return sock


def port_of(sock):
    return sock.getsockname()[1]


def inherited_socket(fd):
    """The listening socket behind descriptor `fd`, passed down by a parent process.

    It is made non-inheritable again, so that what a handler starts does not
    keep the port open.
    """
    sock = socket.socket(fileno=fd)
    sock.set_inheritable(False)
    return sock


class Listener:
    """A listening socket; each accepted one goes to `on_accept(sock, peer)`.

    Out of descriptors, the listening socket stays readable: accepting
    pauses for a while instead of spinning, and resumes by itself.
    """

    def __init__(self, loop, host, port, on_accept, reuse_port=False, backlog=BACKLOG,
                 name='listener', sock=None):
        self.loop = loop
        self.on_accept = on_accept
        self.name = name
        self.closed = False
        self._paused = None
        # A socket given is one already listening (a worker's, from its master).
        self.sock = listening_socket(host, port, reuse_port, backlog) if sock is None else sock
        self.sock.setblocking(False)
        self.port = self.sock.getsockname()[1]
        # An accepted socket is made as the C socket type: socket.accept() would add a
        # Python-level socket object and two enum conversions to every connection.
        self._accept = self.sock._accept
        self._kind = (int(self.sock.family), int(self.sock.type), self.sock.proto)

    def start(self):
        if not self.closed:
            self.loop.add_reader(self.sock, self._accept_ready)

    def _accept_ready(self):
        family, kind, proto = self._kind
        for _ in range(ACCEPT_BATCH):
            try:
                fd, peer = self._accept()
            except _AGAIN:
                return
            except OSError as e:
                if e.errno in OUT_OF_DESCRIPTORS:
                    return self._pause(e)
                if e.errno == errno.ECONNABORTED:
                    continue
                log.warning('%s: accept failed: %s', self.name, e)
                return
            sock = _socket.socket(family, kind, proto, fd)
            sock.setblocking(False)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.on_accept(sock, peer)

    def _pause(self, error):
        if self._paused is None:
            log.warning('%s: %s; pausing accept for %.2fs', self.name,
                                    os.strerror(error.errno), ACCEPT_RETRY)
        self.loop.remove_reader(self.sock)
        self._paused = self.loop.call_later(ACCEPT_RETRY, self._resume)

    def _resume(self):
        self._paused = None
        self.start()

    def close(self):
        if self.closed:
            return
        self.closed = True
        if self._paused is not None:
            self._paused.cancel()
        self.loop.forget(self.sock)
        self.sock.close()


class Connector:
    """An outbound TCP connect, trying each address in turn; `cancel()` gives up.

    On success `make_transport(loop, sock, protocol, peer).start()` runs; on
    failure the protocol gets `connection_failed(OSError)` with the last
    address's error.
    """

    __slots__ = ('loop', 'addresses', 'protocol', 'make_transport', 'sock', 'address')

    def __init__(self, loop, addresses, protocol, make_transport=Transport):
        self.loop = loop
        self.addresses = list(addresses)
        self.protocol = protocol
        self.make_transport = make_transport
        self.sock = None
        self.address = None

    def start(self):
        family, self.address = self.addresses.pop(0)
        try:
            sock = socket.socket(family, socket.SOCK_STREAM)
        except OSError as exc:
            return self.protocol.connection_failed(exc)
        sock.setblocking(False)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock = sock
        err = sock.connect_ex(self.address)
        if err and err not in CONNECT_IN_PROGRESS:
            return self._failed(err)
        self.loop.add_writer(sock, self._connected)
        return self

    def _connected(self):
        sock = self.sock
        self.loop.remove_writer(sock)
        err = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if err:
            return self._failed(err)
        self.sock = None
        try:
            transport = self.make_transport(self.loop, sock, self.protocol, self.address)
        except OSError as exc:      # a TLS socket that could not be set up
            sock.close()
            return self.protocol.connection_failed(exc)
        transport.start()

    def _failed(self, err):
        self._close_socket()
        if self.addresses:
            return self.start()
        self.protocol.connection_failed(OSError(err, os.strerror(err)))

    def _close_socket(self):
        if self.sock is not None:
            self.loop.forget(self.sock)
            self.sock.close()
            self.sock = None

    def cancel(self):
        self.addresses = []
        self._close_socket()


def connect(loop, addresses, protocol, make_transport=Transport):
    """Open a connection to the first of `addresses` [(family, sockaddr)] that answers."""
    return Connector(loop, addresses, protocol, make_transport).start()
