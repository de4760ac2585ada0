"""The server's protocol as data: timeouts, flow control and pipelining, without sockets.

Each test drives an `HTTPProtocol` on a `FakeTransport` and a `FakeLoop`
(tests/protocol_support.py): the peer's bytes go in by hand, the clock
moves only when the test moves it, and what the protocol wrote is read back
by rhc's response parser. So a 10 s header timeout is checked to the
second, and a slowloris trickling a byte a second runs in no time. The last
test holds the fake transport to the real one over a socketpair.
How requests are answered (Expect, errors, limits, keep-alive) is in
test_protocol_answers_data.py, the client's side in test_exchange_data.py;
a few end-to-end versions stay in test_server_protocol.py and
test_slowloris.py.
"""
import json
import logging
import re
import socket

import pytest

from rhc.limits import Limits
from rhc.loop import Loop
from rhc.server_protocol import MAX_PIPELINE_BUFFER
from rhc.transport import HIGH_WATER, Transport
from protocol_support import (EPOCH as T0, PONG, SERVICE, FakeTransport, assert_lost,
                              assert_open, fake_server, get, install_fake_loop, open_server,
                              parse_responses, post)

HEADER_TIMEOUT = Limits().header_timeout
IDLE_TIMEOUT = Limits().idle_timeout


@pytest.fixture
def loop(monkeypatch):
    return install_fake_loop(monkeypatch)


@pytest.fixture
def server(loop):
    return fake_server(loop, SERVICE)


# -- the header timeout ------------------------------------------------------------------

def test_a_silent_new_connection_is_closed_at_the_header_timeout(server, loop):
    protocol, transport = open_server(server)
    loop.advance(HEADER_TIMEOUT - 0.01)
    assert_open(transport)
    loop.advance(0.01)
    assert transport.aborted and transport.closed_at == T0 + HEADER_TIMEOUT
    assert transport.output == b''
    assert_lost(server, protocol, transport)


def test_a_slowloris_trickling_a_byte_a_second_is_cut_at_the_header_timeout(server, loop, caplog):
    """Each byte is news, but the deadline is the head's, set when it began."""
    caplog.set_level(logging.INFO, 'rhc.server')
    head = b'GET /ping HTTP/1.1\r\nHost: test\r\nX-Slow: ' + b'a' * 100
    protocol, transport = open_server(server)
    for byte in head:
        if transport.closing:
            break
        transport.receive(bytes([byte]))
        loop.advance(1.0)
    assert transport.aborted and transport.closed_at == T0 + HEADER_TIMEOUT
    assert protocol.bytes_in == HEADER_TIMEOUT      # one byte a second until then
    assert transport.output == b''
    assert 'header timeout after 10.0s' in caplog.text
    assert_lost(server, protocol, transport)


def test_a_body_trickled_too_slowly_is_cut_at_the_header_timeout(server, loop):
    protocol, transport = open_server(server)
    transport.receive(post(b'/size', b'x' * 100)[:-100])      # the head, and no body yet
    for _ in range(100):
        if transport.closing:
            break
        loop.advance(1.0)
        transport.receive(b'x')
    assert transport.aborted and transport.closed_at == T0 + HEADER_TIMEOUT
    assert transport.output == b''


def test_each_request_has_its_own_header_timeout(server, loop):
    """A keep-alive connection serving a request every 8 s lives on; the one
    that then trickles is cut 10 s after its own first byte."""
    protocol, transport = open_server(server)
    for _ in range(4):
        transport.receive(get(b'/ping'))
        loop.advance(8.0)
    assert_open(transport)
    assert [r.body for r in parse_responses(transport.output)] == [PONG] * 4
    began = loop.time()
    for byte in get(b'/ping'):
        if transport.closing:
            break
        transport.receive(bytes([byte]))
        loop.advance(1.0)
    assert transport.aborted and transport.closed_at == began + HEADER_TIMEOUT


# -- the idle timeout ----------------------------------------------------------------------

def test_an_idle_keep_alive_connection_is_closed_at_the_idle_timeout(server, loop):
    """A request every 30 s keeps it open for five minutes; then it idles out."""
    protocol, transport = open_server(server)
    for _ in range(10):
        transport.receive(get(b'/ping'))
        loop.advance(30.0)
    last = loop.time() - 30.0
    assert_open(transport)
    loop.advance(IDLE_TIMEOUT - 30.0 - 0.01)
    assert_open(transport)
    loop.advance(0.01)
    assert transport.aborted and transport.closed_at == last + IDLE_TIMEOUT
    assert len(parse_responses(transport.output)) == 10
    assert_lost(server, protocol, transport)


def test_idle_is_counted_from_the_last_answer_not_the_last_byte_received(server, loop):
    """A handler that answers 30 s after its request came leaves the connection
    idle from then: closed at 30 + 60, not at 60."""
    protocol, transport = open_server(server)
    transport.receive(get(b'/delayed?ms=30000'))
    loop.advance(30.0)
    [answer] = parse_responses(transport.output)
    assert json.loads(answer.body)['delayed'] == 30000
    loop.advance(IDLE_TIMEOUT - 0.01)
    assert_open(transport)
    loop.advance(0.01)
    assert transport.closed_at == T0 + 30.0 + IDLE_TIMEOUT


def test_a_delayed_handler_is_not_cut_by_either_timeout(server, loop):
    protocol, transport = open_server(server)
    transport.receive(get(b'/delayed?ms=100000'))
    loop.advance(99.0)
    assert_open(transport)
    loop.advance(1.0)
    assert len(parse_responses(transport.output)) == 1
    assert_open(transport)


def test_an_idle_timeout_shorter_than_the_header_timeout(loop):
    server = fake_server(loop, SERVICE, Limits(idle_timeout=3.0, header_timeout=10.0))
    protocol, transport = open_server(server)
    transport.receive(get(b'/ping'))
    loop.advance(2.99)
    assert_open(transport)
    loop.advance(0.01)
    assert transport.closed_at == T0 + 3.0


# -- a client that stops reading its answers -------------------------------------------------

def test_a_client_that_stops_reading_is_closed_after_idle_timeout_without_progress(server, loop,
                                                                                   caplog):
    caplog.set_level(logging.INFO, 'rhc.server')
    protocol, transport = open_server(server)
    transport.stall()
    transport.receive(get(b'/big?n=2000000'))
    assert transport.get_write_buffer_size() > 1_900_000
    assert 'pause' in transport.reading_calls       # its next requests are not read
    loop.advance(30.0)
    transport.drain(100_000)                        # it reads a little: progress
    loop.advance(IDLE_TIMEOUT - 0.01)
    assert_open(transport)
    loop.advance(0.01)
    assert transport.aborted and transport.closed_at == T0 + 30.0 + IDLE_TIMEOUT
    assert len(transport.written) == 100_000
    assert 'not reading; closed after 60.0s' in caplog.text
    assert_lost(server, protocol, transport)


def test_a_slow_reader_that_keeps_reading_is_not_closed(server, loop):
    protocol, transport = open_server(server)
    transport.stall()
    transport.receive(get(b'/big?n=2000000'))
    for _ in range(40):                             # 100 s, 50 kB every 2.5 s
        loop.advance(2.5)
        transport.drain(50_000)
    assert_open(transport)
    transport.drain()
    [answer] = parse_responses(transport.output)
    assert len(answer.body) == 2_000_000


# -- pipelining --------------------------------------------------------------------------

def test_pipelined_requests_are_answered_in_order_behind_a_delayed_one(server, loop):
    protocol, transport = open_server(server)
    transport.receive(get(b'/delayed?ms=100') + get(b'/echo?n=2') + get(b'/ping'))
    assert transport.output == b''          # nothing overtakes the delayed answer
    loop.advance(0.1)
    first, second, third = parse_responses(transport.output)
    assert json.loads(first.body)['delayed'] == 100
    assert json.loads(second.body)['query'] == {'n': '2'}
    assert third.body == PONG
    assert len({r.headers['x-request-id'] for r in (first, second, third)}) == 3
    assert_open(transport)


def test_pipelined_requests_with_bodies(server, loop):
    chunked = (b'POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n'
               b'2\r\nde\r\n0\r\n\r\n')
    protocol, transport = open_server(server)
    transport.receive(post(b'/echo', b'abc') + chunked + get(b'/ping'))
    first, second, third = parse_responses(transport.output)
    assert json.loads(first.body)['body'] == 'abc'
    assert json.loads(second.body)['body'] == 'de'
    assert third.body == PONG


def test_a_full_pipeline_buffer_pauses_reading_until_the_delayed_answer(server, loop):
    padded = get(b'/ping', b'X-Pad: ' + b'p' * 1000 + b'\r\n')
    count = MAX_PIPELINE_BUFFER // len(padded) + 10
    protocol, transport = open_server(server)
    transport.receive(get(b'/delayed?ms=500') + padded * count)
    assert transport.reading_calls == ['pause'] and not transport.reading
    transport.receive(get(b'/echo?n=last'))     # waits in the kernel, unread
    assert protocol.parser.buffered == len(padded) * count
    loop.advance(0.5)
    assert transport.reading_calls[-1] == 'resume' and transport.reading
    answers = parse_responses(transport.output)
    assert len(answers) == count + 2
    assert json.loads(answers[0].body)['delayed'] == 500
    assert {a.body for a in answers[1:-1]} == {PONG}
    assert json.loads(answers[-1].body)['query'] == {'n': 'last'}


def test_unread_answers_stop_the_serving_of_pipelined_requests_until_resume_writing(server,
                                                                                  loop):
    size = 600_000      # two answers pass the transport's high-water mark
    protocol, transport = open_server(server)
    transport.stall()
    transport.receive(get(b'/big?n=%d' % size) * 5)
    assert len(parse_responses(transport.output)) == 2      # then it paused
    assert protocol.paused and not transport.reading
    loop.advance(5.0)
    assert len(parse_responses(transport.output)) == 2      # nothing more while unread
    transport.drain(len(transport.buffered) - transport.low_water)   # resume_writing
    assert len(parse_responses(transport.output)) == 4      # served two more, paused again
    transport.drain()
    answers = parse_responses(transport.output)
    assert [len(a.body) for a in answers] == [size] * 5
    assert transport.reading


# -- a client that goes away -------------------------------------------------------------------

def test_a_client_that_goes_away_mid_request_is_forgotten(server, loop):
    protocol, transport = open_server(server)
    transport.receive(post(b'/size', b'x' * 50)[:-47])
    transport.reset()
    loop.run_ready()
    assert isinstance(transport.lost, ConnectionResetError)
    assert protocol not in server.connections
    assert loop.timers() == [] and transport.output == b''


def test_a_delayed_answer_after_the_client_went_away_writes_nothing(server, loop, caplog):
    protocol, transport = open_server(server)
    transport.receive(get(b'/delayed?ms=100') + get(b'/ping'))
    transport.reset()
    loop.run_ready()
    assert protocol.current is None         # abandoned
    loop.advance(0.1)                       # the handler answers anyway
    assert transport.output == b''
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert loop.timers() == [] and protocol not in server.connections


def test_a_client_that_closes_after_its_request_is_closed(server, loop):
    protocol, transport = open_server(server)
    transport.receive(get(b'/ping'))
    transport.eof()
    assert transport.closing and len(parse_responses(transport.output)) == 1
    assert_lost(server, protocol, transport)


# -- the access log ------------------------------------------------------------------------

ACCESS = re.compile(r'(?P<method>\S+) (?P<path>\S+) (?P<status>\d+) (?P<ms>[\d.]+)ms '
                    r'in=(?P<in>\d+) out=(?P<out>\d+) trace=[0-9a-f]{32}$')


def access_lines(caplog):
    return [ACCESS.search(r.getMessage()).groupdict()
            for r in caplog.records if r.name == 'rhc.access']


@pytest.mark.parametrize('delivery', ['whole', 'bytewise'])
def test_the_access_log_counts_each_requests_own_bytes(loop, caplog, delivery):
    caplog.set_level(logging.INFO, 'rhc.access')
    server = fake_server(loop, SERVICE, log_requests=True)
    chunked = (b'POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n'
               b'5\r\nhello\r\n0\r\n\r\n')
    requests = [get(b'/ping'), post(b'/size', b'x' * 1000), chunked, get(b'/echo?a=b')]
    protocol, transport = open_server(server)
    if delivery == 'whole':
        transport.receive(b''.join(requests))
    else:
        transport.receive_bytewise(b''.join(requests))
    lines = access_lines(caplog)
    assert [int(line['in']) for line in lines] == [len(r) for r in requests]
    answers = parse_responses(transport.output)
    assert sum(int(line['out']) for line in lines) == len(transport.output)
    assert [int(line['status']) for line in lines] == [a.status for a in answers]


def test_the_access_log_times_a_delayed_answer_by_the_clock(loop, caplog):
    caplog.set_level(logging.INFO, 'rhc.access')
    server = fake_server(loop, SERVICE, log_requests=True)
    protocol, transport = open_server(server)
    transport.receive(get(b'/ping'))
    loop.advance(5.0)
    transport.receive(get(b'/delayed?ms=250'))
    loop.advance(1.0)
    assert [line['ms'] for line in access_lines(caplog)] == ['0.00', '250.00']


# -- the fake keeps the real transport's contract ------------------------------------------

class Recorder:
    """A protocol that writes down what its transport calls."""

    def __init__(self):
        self.calls = []

    def connection_made(self, transport):
        self.calls.append('connection_made')

    def data_received(self, data):
        self.calls.append(('data_received', bytes(data)))

    def eof_received(self):
        self.calls.append('eof_received')
        return False

    def connection_lost(self, exc):
        self.calls.append(('connection_lost', exc))

    def pause_writing(self):
        self.calls.append('pause_writing')

    def resume_writing(self):
        self.calls.append('resume_writing')


CONTRACT = ['connection_made', ('data_received', b'abc'), 'pause_writing', 'resume_writing',
            'eof_received', ('connection_lost', None)]


def test_the_fake_transport_calls_its_protocol_as_the_real_one_does(loop):
    """The same script on a FakeTransport and on rhc's Transport over a socketpair:
    the peer sends, stops reading while we write past the high-water mark,
    reads it all, and closes."""
    fake = Recorder()
    transport = FakeTransport(loop, fake).start()
    transport.receive(b'abc')
    transport.stall()
    transport.write(b'x' * 4 * HIGH_WATER)
    transport.drain()
    transport.eof()
    assert fake.calls[-1] == 'eof_received'         # connection_lost comes on a later turn
    loop.run_ready()

    real = Recorder()
    real_loop = Loop()
    ours, peer = socket.socketpair()
    try:
        ours.setblocking(False)
        peer.setblocking(False)
        transport = Transport(real_loop, ours, real).start()
        peer.sendall(b'abc')
        assert real_loop.run_until(lambda: len(real.calls) == 2, timeout=5)
        transport.write(b'x' * 4 * HIGH_WATER)
        received = bytearray()

        def peer_reads(until):
            try:
                while chunk := peer.recv(1 << 16):
                    received.extend(chunk)
            except BlockingIOError:
                pass
            return until in real.calls
        assert real_loop.run_until(lambda: peer_reads('resume_writing'), timeout=5)
        peer.shutdown(socket.SHUT_WR)
        assert real_loop.run_until(lambda: peer_reads(('connection_lost', None)), timeout=5)
        assert len(received) == 4 * HIGH_WATER
    finally:
        peer.close()
        real_loop.close()
    assert fake.calls == real.calls == CONTRACT
