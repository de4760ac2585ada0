"""What a call returns, and what it sends: nothing lost, nothing sent twice.

A POST is never sent again on a fresh socket after a pooled one died; a
call `rhc.wait` gave up on is cancelled (its socket closed, its callback
never run); binary bodies come back as bytes, text as str; gzip and deflate
answers are decoded; `full=True` gives the whole `rhc.Response`.
"""
import gzip
import json
import socket
import threading
import zlib

import pytest

import rhc
from rhc.loop import get_loop

from client_support import (RawServer, load, loop_keys, ok, port_of, read_request,
                                 wait_for)


@pytest.fixture
def raw():
    servers = []

    def start(script):
        servers.append(RawServer(script))
        return servers[-1]
    yield start
    for server in servers:
        server.stop()


def answer(body, content_type=b'application/json', extra=b''):
    return (b'HTTP/1.1 200 OK\r\nContent-Type: ' + content_type + b'\r\nContent-Length: '
            + str(len(body)).encode() + b'\r\n' + extra + b'\r\n' + body)


# -- a request is sent at most once unless it is idempotent ------------------------------

def _answers_once_then_reads_and_hangs_up(server, conn, index):
    """Connection 0: answer the first request, read the second, close unanswered.
    Later connections: answer everything."""
    if index == 0:
        server.request(conn)
        conn.sendall(ok(b'{"first": true}'))
        server.request(conn)
        return
    while server.request(conn):
        conn.sendall(ok(b'{"again": true}'))


@pytest.mark.parametrize('method', ['POST', 'PATCH'])
def test_a_post_on_a_dead_pooled_socket_is_not_sent_twice(raw, method):
    server = raw(_answers_once_then_reads_and_hangs_up)
    con = rhc.Connection(server.url)
    assert rhc.wait(con.get('/warm'), timeout=5) == {'first': True}
    with pytest.raises(rhc.CallError):
        rhc.wait(con.request(method, '/order', {'item': 1}), timeout=5)
    assert wait_for(lambda: server.requests == 2)
    assert (server.accepted, server.requests) == (1, 2)      # the POST went out once


@pytest.mark.parametrize('method', ['GET', 'PUT', 'DELETE'])
def test_an_idempotent_call_on_a_dead_pooled_socket_is_retried(raw, method):
    server = raw(_answers_once_then_reads_and_hangs_up)
    con = rhc.Connection(server.url)
    rhc.wait(con.get('/warm'), timeout=5)
    assert rhc.wait(con.request(method, '/again'), timeout=5) == {'again': True}
    assert (server.accepted, server.requests) == (2, 3)


# -- rhc.wait(..., timeout=) cancels ------------------------------------------------------

def test_a_timed_out_wait_closes_the_socket_and_drops_the_callback(raw):
    seen = {}

    def watch(server, conn, index):
        server.request(conn)
        conn.settimeout(5)
        seen['eof'] = conn.recv(100) == b''          # the client hung up on us
        seen['eof_event'].set()
    seen['eof_event'] = threading.Event()
    server = raw(watch)
    called = []
    con = rhc.Connection(server.url, timeout=5, wrapper=lambda result: called.append(result))
    keys = loop_keys()
    with pytest.raises(rhc.CallError, match='^timeout$'):
        rhc.wait(con.get('/slow'), timeout=0.2)
    assert seen['eof_event'].wait(2) and seen['eof']
    assert loop_keys() == keys
    rhc.wait(rhc.wrap(lambda callback: rhc.timer.add(lambda: callback(0, 'x'), 300).start()))
    assert called == []


def test_a_cancelled_call_never_calls_back(raw):
    def late(server, conn, index):
        server.request(conn)
        server.stopping.wait(0.2)
        try:
            conn.sendall(ok())
        except OSError:
            pass
    server = raw(late)
    con = rhc.Connection(server.url)
    results = []
    handle = con.get('/')(lambda rc, result: results.append((rc, result)))
    handle.cancel()
    get_loop().run_until(lambda: False, timeout=0.5)
    assert results == []


def test_a_timed_out_task_chain_cancels_its_call(raw):
    closed = threading.Event()

    def watch(server, conn, index):
        server.request(conn)
        conn.settimeout(5)
        if conn.recv(100) == b'':
            closed.set()
    server = raw(watch)
    con = rhc.Connection(server.url, timeout=5)

    @rhc.partial
    def through_a_task(task):
        task.call(con.get('/slow'))
    with pytest.raises(rhc.CallError, match='^timeout$'):
        rhc.wait(through_a_task(), timeout=0.2)
    assert closed.wait(2)


# -- bodies: text stays text, anything else is bytes ------------------------------------------

@pytest.fixture
def service():
    return load(['SERVER api 0', r'ROUTE /random$', 'GET handlers.random_bytes',
                 r'ROUTE /text$', 'GET handlers.text', r'ROUTE /ping$', 'GET handlers.ping',
                 r'ROUTE /teapot$', 'GET handlers.http_error'])


def test_a_binary_body_comes_back_as_bytes_unchanged(service):
    import random
    size = 5 * 1024 * 1024
    con = rhc.Connection(f'http://127.0.0.1:{port_of(service)}', is_json=False)
    got = rhc.wait(con.get(f'/random?size={size}'), timeout=10)
    assert isinstance(got, bytes) and got == random.Random(size).randbytes(size)
    as_json = rhc.Connection(f'http://127.0.0.1:{port_of(service)}')
    assert rhc.wait(as_json.get('/random?size=16'), timeout=5) == random.Random(16).randbytes(16)


def test_text_stays_text(service):
    con = rhc.Connection(f'http://127.0.0.1:{port_of(service)}', is_json=False)
    assert rhc.wait(con.get('/text'), timeout=5) == 'plain words'
    assert rhc.wait(con.get('/ping'), timeout=5) == '{"ping": "pong"}'   # JSON is text


def test_a_charset_is_honoured(raw):
    def latin(server, conn, index):
        while server.request(conn):
            conn.sendall(answer('café'.encode('latin-1'), b'text/plain; charset=iso-8859-1'))
    con = rhc.Connection(raw(latin).url, is_json=False)
    assert rhc.wait(con.get('/'), timeout=5) == 'café'


# -- gzip and deflate -----------------------------------------------------------------------

DOCUMENT = json.dumps({'words': ['compressed'] * 200}).encode()
ENCODINGS = {
    'gzip': gzip.compress(DOCUMENT),
    'x-gzip': gzip.compress(DOCUMENT),
    'deflate': zlib.compress(DOCUMENT),
    'deflate-raw': zlib.compress(DOCUMENT)[2:-4],      # raw deflate, as some servers send
}


@pytest.mark.parametrize('name', list(ENCODINGS))
def test_compressed_answers_are_decoded(raw, name):
    coding = b'deflate' if name == 'deflate-raw' else name.encode()

    def compressed(server, conn, index):
        while server.request(conn):
            conn.sendall(answer(ENCODINGS[name], extra=b'Content-Encoding: ' + coding + b'\r\n'))
    con = rhc.Connection(raw(compressed).url)
    assert rhc.wait(con.get('/'), timeout=5) == json.loads(DOCUMENT)
    full = rhc.wait(con.get('/', full=True), timeout=5)
    assert full.body == DOCUMENT


def test_a_broken_or_huge_compressed_body_is_a_call_error(raw):
    bomb = gzip.compress(b'\0' * (3 * 1024 * 1024))

    def bad(server, conn, index):
        server.request(conn)
        conn.sendall(answer(b'not gzip at all', extra=b'Content-Encoding: gzip\r\n'))
        server.request(conn)
        conn.sendall(answer(bomb, extra=b'Content-Encoding: gzip\r\n'))
    con = rhc.Connection(raw(bad).url, max_body=1024 * 1024)
    with pytest.raises(rhc.CallError, match='malformed gzip body'):
        rhc.wait(con.get('/'), timeout=5)
    with pytest.raises(rhc.CallError, match='too large'):
        rhc.wait(con.get('/'), timeout=5)


# -- full=True and CallError.body -------------------------------------------------------------

def test_full_gives_the_whole_response_for_any_status(service):
    con = rhc.Connection(f'http://127.0.0.1:{port_of(service)}')
    response = rhc.wait(con.get('/teapot', full=True), timeout=5)
    assert isinstance(response, rhc.Response)
    assert response.status == 418
    assert response.headers['CONTENT-TYPE'] == 'application/json; charset=utf-8'
    assert response.json() == {'error': 'short and stout'}
    assert response.text == '{"error": "short and stout"}'
    assert response.body == b'{"error": "short and stout"}'
    missing = rhc.wait(con.get('/nowhere', full=True), timeout=5)
    assert (missing.status, missing.json()) == (404, {'error': 'not found'})
    ok_response = rhc.wait(con.get('/ping', full=True), timeout=5)
    assert (ok_response.status, ok_response.json()) == (200, {'ping': 'pong'})


def test_call_error_body_is_decoded(service):
    con = rhc.Connection(f'http://127.0.0.1:{port_of(service)}')
    with pytest.raises(rhc.CallError) as info:
        rhc.wait(con.get('/teapot'), timeout=5)
    assert info.value.status == 418
    assert info.value.body == {'error': 'short and stout'}
