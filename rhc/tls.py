"""TLS, imported only when a server or a connection uses it.

`ssl` costs about 4 MiB of memory at import, so a plain-HTTP service never
loads it. A TLS socket, on either side, is the plain one whose reads and
writes go through the handshake first and may be told to wait for the other
direction.
"""
import logging
import ssl
import time

from rhc.client import ClientSocket
from rhc.server import RECV_SIZE, HTTPConnection

log = logging.getLogger('rhc.server')


def server_context(certfile, keyfile=None):
    """An SSLContext for serving; OSError or ssl.SSLError if the files won't load."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(certfile, keyfile)
    return context


class TLSConnection(HTTPConnection):
    """An accepted TLS socket: handshake, then HTTP as usual."""

    __slots__ = ()

    def __init__(self, listener, sock, peer, conn_id):
        super().__init__(listener, sock, peer, conn_id)
        self.handshaking = True

    def on_readable(self):
        if self.handshaking:
            return self._handshake()
        sock = self.sock
        try:
            data = sock.recv(RECV_SIZE)
            while sock.pending():   # a TLS record may hold more than one read
                data += sock.recv(RECV_SIZE)
        except (BlockingIOError, InterruptedError, ssl.SSLWantReadError, ssl.SSLWantWriteError):
            return
        except OSError:
            return self.close()
        self.received(data)

    def _handshake(self):
        try:
            self.sock.do_handshake()
        except ssl.SSLWantReadError:
            return
        except ssl.SSLWantWriteError:
            self.loop.add_writer(self.sock, self._handshake)
            return
        except OSError as e:
            log.debug('conn=%s ssl handshake failed: %s', self.id, e)
            return self.close()
        self.handshaking = False
        self.loop.remove_writer(self.sock)
        self.last_active = time.monotonic()

    def linger(self):
        # A TLS stream cannot be half-closed and drained like TCP: just close.
        self.close()

    def send_some(self, data):
        try:
            return self.sock.send(data)
        except (BlockingIOError, InterruptedError, ssl.SSLWantWriteError, ssl.SSLWantReadError):
            return 0
        except OSError:
            return None


def client_context():
    """The default context for https calls: certificates verified."""
    return ssl.create_default_context()


class TLSClientSocket(ClientSocket):
    """A client socket after `wrap`: handshake, then reads and writes as usual."""

    @classmethod
    def wrap(cls, plain, context, hostname):
        """The TLS form of a connected ClientSocket (OSError if it cannot be made)."""
        client = cls(plain.connection, plain.loop)
        client.exchange = plain.exchange
        client.sock = context.wrap_socket(plain.sock, server_hostname=hostname,
                                          do_handshake_on_connect=False)
        return client

    def handshake(self):
        """One handshake step: 'read' or 'write' to wait for, None when done."""
        try:
            self.sock.do_handshake()
        except ssl.SSLWantReadError:
            return 'read'
        except ssl.SSLWantWriteError:
            return 'write'
        return None

    def recv_some(self):
        sock = self.sock
        try:
            data = sock.recv(RECV_SIZE)
            while data and sock.pending():
                data += sock.recv(RECV_SIZE)
            return data
        except (BlockingIOError, InterruptedError, ssl.SSLWantReadError, ssl.SSLWantWriteError):
            return None
        except ssl.SSLZeroReturnError:
            return b''

    def send_some(self, data):
        try:
            return self.sock.send(data)
        except (BlockingIOError, InterruptedError, ssl.SSLWantWriteError, ssl.SSLWantReadError):
            return 0
