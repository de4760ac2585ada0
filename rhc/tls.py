"""TLS, imported only when a server or a connection uses it.

`ssl` costs about 4 MiB of memory at import, so a plain-HTTP service never
loads it. A `TLSTransport` is a `Transport` whose socket shakes hands
before any byte of the protocol's moves: the protocol is told of the
connection at once (so its own timeouts cover a stalled handshake), what it
writes meanwhile waits in the buffer, and its first `data_received` comes
after the handshake. A failed handshake ends in `connection_lost(exc)`.
"""
import ssl

from rhc.transport import RECV_SIZE, Transport

_WAIT = (BlockingIOError, InterruptedError, ssl.SSLWantReadError, ssl.SSLWantWriteError)


def server_context(certfile, keyfile=None):
    """An SSLContext for serving; OSError or ssl.SSLError if the files won't load."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(certfile, keyfile)
    return context


def client_context():
    """The default context for https calls: certificates verified."""
    return ssl.create_default_context()


def server_transports(context):
    """A transport factory for accepted sockets; OSError when one cannot be wrapped."""
    def make(loop, sock, protocol, peer=None):
        return TLSTransport(loop, context.wrap_socket(sock, server_side=True,
                                                      do_handshake_on_connect=False),
                            protocol, peer)
    return make


def client_transports(context, hostname):
    """A transport factory for outbound sockets; the certificate must name `hostname`."""
    def make(loop, sock, protocol, peer=None):
        return TLSTransport(loop, context.wrap_socket(sock, server_hostname=hostname,
                                                      do_handshake_on_connect=False),
                            protocol, peer)
    return make


class TLSTransport(Transport):
    """A Transport over an `ssl` socket: handshake, then reads and writes as usual."""

    __slots__ = ('_handshaking',)
    _WAIT = _WAIT

    def __init__(self, loop, sock, protocol, peer=None):
        super().__init__(loop, sock, protocol, peer)
        self._handshaking = True

    def start(self):
        self.protocol.connection_made(self)
        if not self._closed:
            self._handshake()
        return self

    def _handshake(self):
        sock = self.sock
        try:
            sock.do_handshake()
        except ssl.SSLWantReadError:
            self.loop.remove_writer(sock)
            return self.loop.add_reader(sock, self._handshake)
        except ssl.SSLWantWriteError:
            self.loop.remove_reader(sock)
            return self.loop.add_writer(sock, self._handshake)
        except OSError as exc:      # ssl.SSLError is an OSError
            return self._finish(exc)
        self._handshaking = False
        self.loop.remove_writer(sock)
        self.loop.remove_reader(sock)
        if self._buffer:
            self._blocked = True    # what was written meanwhile goes when the socket is writable
            self.loop.add_writer(sock, self._write_ready)
        elif self._closing:
            return self._after_flush()
        self.resume_reading()

    def resume_reading(self):
        if not self._handshaking:
            super().resume_reading()

    def write(self, data):
        if self._handshaking:
            if not self._closing and data:
                self._buffer += data
            return
        super().write(data)

    def recv(self):
        sock = self.sock
        try:
            data = sock.recv(RECV_SIZE)
            while data and sock.pending():      # a TLS record may hold more than one read
                data += sock.recv(RECV_SIZE)
            return data
        except _WAIT:
            return None
        except ssl.SSLZeroReturnError:
            return b''

    def _read_ready(self):
        try:
            data = self.recv()
        except OSError as exc:
            return self._finish(exc)
        if data:
            self.protocol.data_received(data)
        elif data is not None:
            self._eof()

    def close(self, linger=0.0):
        # A TLS stream cannot be half-closed and drained like TCP: flush, then close.
        super().close(0.0)
