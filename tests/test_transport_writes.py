"""The transport gathers a turn's writes and sends them with one system call.

Over a real socket pair, through a socket that counts its sends: one send a
turn wakes the peer once, where a send per answer woke it once per answer.
"""
import socket

import pytest

from rhc.loop import Loop
from rhc.transport import SEND_NOW, Transport


class CountingSocket:
    """A socket whose `send` calls are recorded (the loop watches the real one's fd)."""

    def __init__(self, sock):
        self.sock = sock
        self.sends = []

    def fileno(self):
        return self.sock.fileno()

    def send(self, data):
        sent = self.sock.send(data)
        self.sends.append(bytes(data[:sent]))
        return sent

    def recv(self, size):
        return self.sock.recv(size)

    def close(self):
        self.sock.close()


class Recorder:
    def __init__(self):
        self.lost = []

    def connection_made(self, transport):
        self.transport = transport

    def data_received(self, data):
        pass

    def eof_received(self):
        return False

    def connection_lost(self, exc):
        self.lost.append(exc)

    def pause_writing(self):
        pass

    def resume_writing(self):
        pass


@pytest.fixture
def wired():
    loop = Loop()
    ours, peer = socket.socketpair()
    ours.setblocking(False)
    sock = CountingSocket(ours)
    protocol = Recorder()
    transport = Transport(loop, sock, protocol).start()
    yield loop, sock, transport, peer
    transport.abort()
    peer.close()
    loop.close()


def run_one_turn(loop):
    loop.call_soon(lambda: None)
    loop.run_until(lambda: False, timeout=0.05)


def test_writes_of_one_turn_go_in_one_send_at_its_end(wired):
    loop, sock, transport, peer = wired
    turn = []

    def answers():
        transport.write(b'first ')
        transport.write(b'second')
        turn.append(list(sock.sends))       # nothing sent inside the turn
    loop.call_soon(answers)
    run_one_turn(loop)
    assert turn == [[]]
    assert sock.sends == [b'first second']
    assert peer.recv(100) == b'first second'
    assert transport.sent == len(b'first second')


def test_a_large_write_is_sent_at_once(wired):
    loop, sock, transport, peer = wired
    transport.write(b'small')
    transport.write(b'x' * SEND_NOW)
    assert sock.sends and sock.sends[0].startswith(b'small')   # before the turn ended


def test_close_sends_what_was_gathered_first(wired):
    loop, sock, transport, peer = wired
    transport.write(b'last words')
    transport.close()
    run_one_turn(loop)
    assert peer.recv(100) == b'last words'
    assert peer.recv(100) == b''


def test_abort_offers_what_was_gathered_then_cuts(wired):
    loop, sock, transport, peer = wired
    transport.write(b'head and part of a body')
    transport.abort()
    assert peer.recv(100) == b'head and part of a body'
    assert peer.recv(100) == b''
