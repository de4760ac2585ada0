"""The client's side as data: an `Exchange` on a fake transport and a fake clock.

`rhc.exchange.connect` is replaced by a `FakeDialer`, so each connection a
call opens is a FakeTransport the test answers through. The response is
read whole or in pieces; a keep-alive connection goes back to the pool;
a dead pooled connection is retried only when sending again is safe; the
timeout runs on the fake clock; a cancelled call never calls back.
"""
import json

import pytest

import rhc.exchange
from rhc import http
from rhc.client import Connection
from rhc.errors import CallError
from protocol_support import EPOCH as T0, FakeDialer, install_fake_loop


@pytest.fixture
def loop(monkeypatch):
    return install_fake_loop(monkeypatch)


ANSWER = b'{"answer": [1, 2, 3]}'
RESPONSE = (b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s'
            % (len(ANSWER), ANSWER))
CLOSING = RESPONSE.replace(b'\r\n\r\n', b'\r\nConnection: close\r\n\r\n', 1)


@pytest.fixture
def dialer(monkeypatch):
    dialer = FakeDialer()
    monkeypatch.setattr(rhc.exchange, 'connect', dialer)
    return dialer


@pytest.fixture
def service(loop, dialer):
    connection = Connection('http://127.0.0.1:8080', loop=loop, timeout=5.0)
    yield connection
    connection.close()


class Outcome:
    """A call started on `connection`, and what its callback got."""

    def __init__(self, connection, method='GET', path='/thing', body=None):
        self.results = []
        self.exchange = connection.request(method, path, body)(
            lambda rc, result: self.results.append((rc, result)))
        connection.loop.run_ready()      # the connect completes

    @property
    def result(self):
        [(rc, result)] = self.results
        assert rc == 0, result
        return result

    @property
    def error(self):
        [(rc, result)] = self.results
        assert rc == 1 and isinstance(result, CallError), result
        return str(result)


def sent_requests(transport):
    parser = http.RequestParser()
    parser.feed(transport.output)
    requests = []
    while (request := parser.next_request()) is not None:
        requests.append(request)
    return requests


@pytest.mark.parametrize('cut', ['whole', 'bytewise', 'head-then-body'])
def test_a_response_is_parsed_however_it_arrives(service, dialer, cut):
    call = Outcome(service, 'POST', '/things', {'a': 1})
    [transport] = dialer.transports
    [request] = sent_requests(transport)
    assert (request.method, request.path, request.headers['host']) == \
        ('POST', '/things', '127.0.0.1:8080')
    assert json.loads(request.body) == {'a': 1}
    if cut == 'whole':
        transport.receive(RESPONSE)
    elif cut == 'bytewise':
        transport.receive_bytewise(RESPONSE[:-1])
        assert call.results == []
        transport.receive(RESPONSE[-1:])
    else:
        transport.receive(RESPONSE[:-len(ANSWER)])
        transport.receive(ANSWER)
    assert call.result == {'answer': [1, 2, 3]}


def test_a_keep_alive_connection_goes_back_to_the_pool_and_is_reused(service, dialer):
    first = Outcome(service)
    dialer.transports[0].receive(RESPONSE)
    assert first.result == {'answer': [1, 2, 3]}
    assert len(service.idle) == 1
    second = Outcome(service, path='/again')
    assert len(dialer.transports) == 1 and service.connects == 1 and len(service.idle) == 0
    [transport] = dialer.transports
    assert [r.path for r in sent_requests(transport)] == ['/thing', '/again']
    transport.receive(RESPONSE)
    assert second.result == {'answer': [1, 2, 3]}
    assert len(service.idle) == 1


def test_a_connection_close_answer_is_not_pooled(service, dialer):
    call = Outcome(service)
    transport = dialer.transports[0]
    transport.receive(CLOSING)
    assert call.result == {'answer': [1, 2, 3]}
    assert transport.closing and len(service.idle) == 0


def pooled(service, dialer):
    """A connection that answered once and is parked in the pool."""
    call = Outcome(service)
    dialer.transports[-1].receive(RESPONSE)
    assert call.results and len(service.idle) == 1
    return dialer.transports[-1]


def eof(transport):
    transport.eof()


def reset(transport):
    transport.reset()


@pytest.mark.parametrize('dies', [eof, reset])
@pytest.mark.parametrize('method', ['GET', 'PUT', 'DELETE'])
def test_an_idempotent_call_on_a_dead_pooled_connection_is_retried_once(service, dialer,
                                                                         dies, method):
    stale = pooled(service, dialer)
    call = Outcome(service, method, '/again')
    dies(stale)                             # it had closed while parked: no answer comes
    service.loop.run_ready()
    assert call.results == [] and len(dialer.transports) == 2
    fresh = dialer.transports[1]
    assert [r.method for r in sent_requests(fresh)] == [method]
    fresh.receive(RESPONSE)
    assert call.result == {'answer': [1, 2, 3]}


def test_a_retried_call_is_not_retried_again(service, dialer):
    stale = pooled(service, dialer)
    call = Outcome(service)
    stale.eof()
    service.loop.run_ready()
    dialer.transports[1].eof()
    service.loop.run_ready()
    assert call.error == 'connection closed mid-response'
    assert len(dialer.transports) == 2


@pytest.mark.parametrize('method', ['POST', 'PATCH'])
def test_a_call_sent_on_a_dead_pooled_connection_is_not_sent_again(service, dialer, method):
    stale = pooled(service, dialer)
    call = Outcome(service, method, '/things', {'a': 1})
    stale.eof()
    service.loop.run_ready()
    assert call.error == 'connection closed mid-response'
    assert len(dialer.transports) == 1


def test_a_post_whose_first_send_failed_is_retried(service, dialer):
    """Not a byte of it went out, so the server cannot have seen it."""
    stale = pooled(service, dialer)
    stale.break_writes = BrokenPipeError(32, 'Broken pipe')
    call = Outcome(service, 'POST', '/things', {'a': 1})
    service.loop.run_ready()
    assert [r.method for r in sent_requests(stale)] == ['GET']      # only the first call's
    fresh = dialer.transports[1]
    assert [r.method for r in sent_requests(fresh)] == ['POST']
    fresh.receive(RESPONSE)
    assert call.result == {'answer': [1, 2, 3]}


def test_a_fresh_connection_that_breaks_is_not_retried(service, dialer):
    call = Outcome(service)
    dialer.transports[0].reset()
    service.loop.run_ready()
    assert call.error.startswith('connection reset')
    assert len(dialer.transports) == 1


def test_a_refused_connect_is_an_error(service, dialer):
    dialer.refuse = True
    call = Outcome(service)
    assert call.error == 'connection refused'


def test_a_silent_server_times_out_at_timeout(service, dialer, loop):
    call = Outcome(service)
    loop.advance(4.99)
    assert call.results == []
    loop.advance(0.01)
    assert call.error == 'timeout' and loop.time() == T0 + 5.0
    assert dialer.transports[0].aborted


def test_a_slow_but_steady_server_does_not_time_out(service, dialer, loop):
    call = Outcome(service)
    transport = dialer.transports[0]
    for byte in RESPONSE:       # a byte every 4 s, for minutes
        loop.advance(4.0)
        transport.receive(bytes([byte]))
    assert loop.time() - T0 > 12 * service.timeout
    assert call.result == {'answer': [1, 2, 3]}


def test_a_server_that_stops_midway_times_out(service, dialer, loop):
    call = Outcome(service)
    loop.advance(3.0)
    dialer.transports[0].receive(RESPONSE[:20])
    loop.advance(4.99)
    assert call.results == []
    loop.advance(0.01)
    assert call.error == 'timeout' and loop.time() == T0 + 8.0


def test_cancel_closes_and_never_calls_back(service, dialer, loop):
    call = Outcome(service)
    transport = dialer.transports[0]
    call.exchange.cancel()
    assert transport.aborted
    transport.receive(RESPONSE)
    loop.advance(60.0)
    assert call.results == [] and len(service.idle) == 0
    assert loop.timers() == []


def test_cancel_before_the_connection_is_made(service, dialer, loop):
    results = []
    exchange = service.get('/thing')(lambda rc, result: results.append(rc))
    exchange.cancel()
    loop.advance(60.0)
    assert dialer.transports == [] and results == []
