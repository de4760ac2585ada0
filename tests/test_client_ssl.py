"""https: an rhc server with `server.NAME.ssl.*` settings, called by the rhc client."""
import socket
import ssl

import pytest

import rhc
from rhc.transport import Transport
import rhc.micro as micro
from rhc.loop import get_loop

from conftest import unverified_context
from client_support import RawServer, load, loop_keys, port_of

LINES = ['SERVER x 0', 'ROUTE /test/ping$', 'GET handlers.ping',
         'ROUTE /inspect', 'POST handlers.inspect']


@pytest.fixture
def https_url(certificate, tmp_path):
    certfile, keyfile = certificate
    config = tmp_path / 'ssl.config'
    config.write_text('server.x.host=127.0.0.1\n'
                      'server.x.ssl.is_active=true\n'
                      f'server.x.ssl.certfile={certfile}\n'
                      f'server.x.ssl.keyfile={keyfile}\n')
    service = micro.load_server(LINES, config=str(config))
    assert service.servers['x'].listener.sock.getsockname()[0] == '127.0.0.1'
    return f'https://127.0.0.1:{service.servers["x"].port}'


def test_https_with_an_unverified_context(https_url):
    con = rhc.Connection(https_url, ssl_context=unverified_context())
    assert rhc.wait(con.get('/test/ping'), timeout=5) == {'ping': 'pong'}


def test_https_trusting_the_certificate(https_url, certificate):
    context = ssl.create_default_context(cafile=certificate[0])
    con = rhc.Connection(https_url, ssl_context=context)
    assert rhc.wait(con.get('/test/ping'), timeout=5) == {'ping': 'pong'}
    result = rhc.wait(con.post('/inspect', {'big': 'x' * 300_000}), timeout=5)
    assert result['json'] == {'big': 'x' * 300_000}


def test_https_keep_alive(https_url):
    con = rhc.Connection(https_url, ssl_context=unverified_context())
    for _ in range(20):
        assert rhc.wait(con.get('/test/ping'), timeout=5) == {'ping': 'pong'}
    assert con.connects == 1


def test_https_verification_failure_with_the_default_context(https_url):
    get_loop()
    keys = loop_keys()
    con = rhc.Connection(https_url)
    with pytest.raises(rhc.CallError) as info:
        rhc.wait(con.get('/test/ping'), timeout=5)
    assert 'ssl error' in str(info.value)
    assert 'CERTIFICATE_VERIFY_FAILED' in str(info.value) or 'certificate' in str(info.value)
    assert info.value.status is None
    # the server's side of it (on this loop too) closes once the loop sees the alert
    assert get_loop().run_until(lambda: loop_keys() == keys, timeout=2)
    assert not con.idle
    # the server goes on serving
    good = rhc.Connection(https_url, ssl_context=unverified_context())
    assert rhc.wait(good.get('/test/ping'), timeout=5) == {'ping': 'pong'}
    good.close()


def test_https_to_the_wrong_name_fails_hostname_check(https_url, certificate):
    context = ssl.create_default_context(cafile=certificate[0])
    con = rhc.Connection(https_url.replace('127.0.0.1', 'localhost'), ssl_context=context)
    con.addresses = [(socket.AF_INET, ('127.0.0.1', con.port))]     # no lookup: 127.0.0.1 only
    with pytest.raises(rhc.CallError) as info:
        rhc.wait(con.get('/test/ping'), timeout=5)
    assert 'ssl error' in str(info.value)


def test_https_to_a_plain_http_server_is_a_call_error():
    def plain(server, conn, index):
        conn.recv(1024)             # the ClientHello, answered in plain HTTP
        conn.sendall(b'HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n')
    server = RawServer(plain)
    try:
        con = rhc.Connection(f'https://127.0.0.1:{server.port}', ssl_context=unverified_context(),
                             timeout=2)
        with pytest.raises(rhc.CallError) as info:
            rhc.wait(con.get('/'), timeout=5)
        assert 'ssl error' in str(info.value)
    finally:
        server.stop()


def test_plain_http_to_an_https_server_is_a_call_error(https_url):
    con = rhc.Connection(https_url.replace('https', 'http'), timeout=2)
    with pytest.raises(rhc.CallError):
        rhc.wait(con.get('/test/ping'), timeout=5)


def test_ssl_server_without_a_certfile_is_a_micro_error(tmp_path):
    config = tmp_path / 'ssl.config'
    config.write_text('server.x.host=127.0.0.1\nserver.x.ssl.is_active=true\n')
    with pytest.raises(micro.MicroError, match='certfile'):
        micro.load_server(LINES, config=str(config))


def test_an_ssl_context_on_an_http_url_is_not_used():
    service = load(LINES)
    con = rhc.Connection(f'http://127.0.0.1:{port_of(service)}', ssl_context=unverified_context())
    assert con.make_transport is Transport      # plain TCP, not TLS
    assert rhc.wait(con.get('/test/ping'), timeout=5) == {'ping': 'pong'}
