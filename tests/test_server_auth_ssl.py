"""AUTH (server-wide, per method, opted out) and https, over real sockets.

AUTH is called through the test client; https with http.client, raw sockets and curl.
"""
import hashlib
import http.client
import json
import os
import shutil
import socket
import subprocess
import time

import pytest

import micro
from micro import MicroError
import rhc.testing
from rhc.loop import Loop
from rhc.service import Service

from conftest import unverified_context

AUTHED = [
    'SERVER api 0',
    'AUTH handlers.allow_token',
    r'ROUTE /open$',
    'GET handlers.ping',
    'AUTH none',
    'POST handlers.ping',
    r'ROUTE /admin$',
    'GET handlers.ping',
    'AUTH handlers.allow_admin',
    r'ROUTE /n/(\d+)$',
    'ARG int',
    'GET handlers.typed',
    r'ROUTE /forbidden$',
    'GET handlers.ping',
    'AUTH handlers.auth_forbidden',
    r'ROUTE /broken$',
    'GET handlers.ping',
    'AUTH handlers.auth_broken',
]

PER_METHOD = [
    'SERVER api 0',
    r'ROUTE /thing$',
    'GET handlers.ping',
    'DELETE handlers.ping',
    'AUTH handlers.allow_admin',
]


def call(client, method, path, token=None):
    """(status, decoded JSON or None) of one call, with `X-Token` when given."""
    answer = client.request(method, path, headers={'X-Token': token} if token else {})
    return answer.status, answer.json() if answer.body else None


@pytest.fixture
def authed():
    with rhc.testing.Client(AUTHED) as client:
        yield client


# -- AUTH ------------------------------------------------------------------

def test_server_wide_auth(authed):
    assert call(authed, 'POST', '/open') == (401, {'error': 'unauthorized'})
    assert call(authed, 'POST', '/open', 'wrong')[0] == 401
    assert call(authed, 'POST', '/open', 'secret') == (200, {'ping': 'pong'})


def test_auth_none_opts_a_method_out(authed):
    assert call(authed, 'GET', '/open') == (200, {'ping': 'pong'})


def test_method_auth_replaces_the_servers(authed):
    assert call(authed, 'GET', '/admin', 'secret')[0] == 401
    assert call(authed, 'GET', '/admin', 'admin') == (200, {'ping': 'pong'})


def test_auth_runs_before_argument_coercion(authed):
    assert call(authed, 'GET', '/n/1')[0] == 401
    assert call(authed, 'GET', '/n/1', 'secret')[1]['args'] == [1]


def test_auth_does_not_hide_404_or_405(authed):
    assert call(authed, 'GET', '/nowhere')[0] == 404
    assert call(authed, 'PUT', '/open')[0] == 405


def test_auth_may_raise_http_error(authed):
    assert call(authed, 'GET', '/forbidden', 'secret') == (403, {'error': 'forbidden'})


def test_auth_that_raises_is_500(authed):
    status, document = call(authed, 'GET', '/broken', 'secret')
    assert status == 500 and document['error'] == 'internal server error'
    assert call(authed, 'GET', '/open') == (200, {'ping': 'pong'})


def test_auth_on_one_method_only():
    with rhc.testing.Client(PER_METHOD) as client:
        assert call(client, 'GET', '/thing')[0] == 200
        assert call(client, 'DELETE', '/thing')[0] == 401
        assert call(client, 'DELETE', '/thing', 'admin')[0] == 200


def test_head_is_checked_like_get(authed):
    answer = authed.head('/admin')
    assert answer.status == 401 and answer.body == b''


# -- https -----------------------------------------------------------------

OPENSSL = shutil.which('openssl')
needs_openssl = pytest.mark.skipif(OPENSSL is None, reason='openssl is not installed')

HTTPS = [
    'SERVER secure 0',
    r'ROUTE /ping$', 'GET handlers.ping',
    r'ROUTE /size$', 'POST handlers.body_size',
    r'ROUTE /big$', 'GET handlers.big',
]


@pytest.fixture
def secure(serve, certificate):
    cert, key = certificate
    return serve(HTTPS, environ={'SERVER_SECURE_SSL_IS_ACTIVE': 'true',
                                 'SERVER_SECURE_SSL_CERTFILE': cert,
                                 'SERVER_SECURE_SSL_KEYFILE': key})


def https(port):
    return http.client.HTTPSConnection('127.0.0.1', port, timeout=5, context=unverified_context())


@needs_openssl
def test_https_get(secure):
    conn = https(secure.port())
    conn.request('GET', '/ping')
    response = conn.getresponse()
    assert response.status == 200
    assert response.getheader('Content-Type') == 'application/json; charset=utf-8'
    assert json.loads(response.read()) == {'ping': 'pong'}
    assert conn.sock.version().startswith('TLS')
    conn.close()


@needs_openssl
def test_https_keep_alive_bodies_and_large_responses(secure):
    conn = https(secure.port())
    payload = os.urandom(1024 * 1024 + 7)
    for _ in range(2):
        conn.request('POST', '/size', body=payload)
        assert json.loads(conn.getresponse().read()) == {
            'size': len(payload), 'sha': hashlib.sha256(payload).hexdigest()}
    conn.request('GET', '/big?n=3000000')
    body = conn.getresponse().read()
    assert len(body) == 3000000 and body.startswith(b'0123456789abcdef')
    conn.request('GET', '/ping')
    assert json.loads(conn.getresponse().read()) == {'ping': 'pong'}
    conn.close()


@needs_openssl
def test_plain_http_to_the_https_port_does_not_hurt(secure):
    with socket.create_connection(('127.0.0.1', secure.port()), timeout=3) as sock:
        sock.sendall(b'GET /ping HTTP/1.1\r\nHost: t\r\n\r\n')
        try:
            while sock.recv(4096):
                pass
        except ConnectionResetError:
            pass
    conn = https(secure.port())
    conn.request('GET', '/ping')
    assert conn.getresponse().status == 200
    conn.close()


@needs_openssl
def test_https_pipelined_in_one_record(secure):
    context = unverified_context()
    with socket.create_connection(('127.0.0.1', secure.port()), timeout=3) as raw:
        with context.wrap_socket(raw, server_hostname='localhost') as sock:
            sock.sendall(b'GET /ping HTTP/1.1\r\nHost: t\r\n\r\n' * 2
                         + b'GET /ping HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n')
            data = b''
            while chunk := sock.recv(65536):
                data += chunk
    assert data.count(b'HTTP/1.1 200 OK') == 3


CURL = shutil.which('curl')


@needs_openssl
@pytest.mark.skipif(CURL is None, reason='curl is not installed')
def test_curl_over_https(secure):
    result = subprocess.run([CURL, '-sS', '-k', '--max-time', '5',
                             f'https://127.0.0.1:{secure.port()}/ping'],
                            capture_output=True, timeout=10)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {'ping': 'pong'}


def test_ssl_without_a_certfile_names_the_server_line():
    model = micro.parse(['# https', 'SERVER secure 0', 'ROUTE /ping$', 'GET handlers.ping'])
    loop = Loop()
    try:
        service = Service(model, loop, environ={'SERVER_SECURE_SSL_IS_ACTIVE': 'yes',
                                                'SERVER_SECURE_HOST': '127.0.0.1'})
        with pytest.raises(MicroError) as caught:
            service.listen()
        assert caught.value.line == 2
        assert 'certfile' in caught.value.message
        service.close()
    finally:
        loop.close()


@needs_openssl
def test_client_that_never_finishes_the_handshake_is_cut_off(serve, certificate):
    cert, key = certificate
    server = serve(HTTPS, environ={'SERVER_SECURE_SSL_IS_ACTIVE': 'true',
                                   'SERVER_SECURE_SSL_CERTFILE': cert,
                                   'SERVER_SECURE_SSL_KEYFILE': key,
                                   'SERVER_SECURE_HEADER_TIMEOUT': '0.5'})
    with socket.create_connection(('127.0.0.1', server.port()), timeout=3) as sock:
        sock.sendall(b'\x16\x03\x01')          # the start of a ClientHello, then nothing
        started = time.monotonic()
        try:
            assert sock.recv(4096) == b''
        except ConnectionResetError:
            pass
        assert time.monotonic() - started < 2.5
    conn = https(server.port())
    conn.request('GET', '/ping')
    assert conn.getresponse().status == 200
    conn.close()
