"""rhc.testing.Client: a service loaded in-process, on its own loop and registry.

Handlers live in tests/testing_handlers.py (lifecycle markers, config and
connection readers) and tests/handlers.py. What a request looked like on
arrival is judged by the server's own parse of it (`testing_handlers.fields`)
and, for the encodings, by the standard library's urllib.parse and json.
"""
import json
import os
import socket
import subprocess
import sys
import urllib.parse

import pytest

import rhc
import rhc.loop
import rhc.micro
import rhc.registry
import rhc.testing
from micro import MicroError

from client_support import new_fds, open_fds, wait_for
from conftest import ROOT
from docs_support import EXAMPLES, free_port

API = [
    'CONFIG name default=plain env=TEST_CLIENT_NAME',
    'CONFIG marker default=/dev/null',
    'SETUP testing_handlers.setup',
    'TEARDOWN testing_handlers.teardown',
    'SERVER api 8080',
    'ROUTE /ping$', 'GET handlers.ping',
    'ROUTE /request$', 'GET testing_handlers.request',
    'ROUTE /whoami$', 'GET testing_handlers.whoami',
    'ROUTE /fields', 'GET testing_handlers.fields', 'POST testing_handlers.fields',
    'PUT testing_handlers.fields', 'PATCH testing_handlers.fields',
    'DELETE testing_handlers.fields',
    'ROUTE /str$', 'GET handlers.ret_str',
    'ROUTE /teapot$', 'GET handlers.http_error',
    'ROUTE /boom$', 'GET handlers.boom',
    r'ROUTE /n/(\d+)$', 'ARG int', 'GET handlers.typed',
    'ROUTE /typed$', 'POST handlers.typed', 'CONTENT age type=int',
    'ROUTE /delayed$', 'GET handlers.delayed',
    'ROUTE /later$', 'GET testing_handlers.later',
    'ROUTE /never$', 'GET testing_handlers.never',
    r'ROUTE /quote/(\d+)$', 'GET testing_handlers.quote',
    'CONNECTION quotes url=http://127.0.0.1:1',
    'RESOURCE read /quotes/{quote_id}',
]

TWO_SERVERS = [
    'SERVER public 0', 'ROUTE /who$', 'GET testing_handlers.whoami',
    'SERVER admin 0', 'ROUTE /who$', 'GET testing_handlers.whoami',
    'CONFIG name default=two',
]


@pytest.fixture
def client():
    with rhc.testing.Client(API) as client:
        yield client


def marks(path):
    return path.read_text().splitlines() if path.exists() else []


class Quotes:
    """A mock of the `quotes` connection: each resource is a method."""

    def __init__(self, who):
        self.who = who
        self.calls = []

    def read(self, method, path, headers, body):
        self.calls.append((method, path))
        if path.endswith('/0'):
            raise rhc.CallError('404 Not Found', status=404)
        return {'by': self.who}


# -- answers ------------------------------------------------------------------

def test_get_returns_an_rhc_response(client):
    answer = client.get('/ping')
    assert isinstance(answer, rhc.Response)
    assert (answer.status, answer.reason) == (200, 'OK')
    assert answer.headers['content-type'] == answer.headers['Content-Type'] == \
        'application/json; charset=utf-8'
    assert answer.json() == {'ping': 'pong'}
    assert answer.body == b'{"ping": "pong"}' and answer.text == '{"ping": "pong"}'
    assert client.get('/str').text == 'héllo'


@pytest.mark.parametrize('verb, path, status', [
    ('get', '/nowhere', 404), ('get', '/teapot', 418), ('get', '/boom', 500),
    ('get', '/n/x', 404), ('post', '/ping', 405), ('post', '/typed', 400),
])
def test_4xx_and_5xx_are_answers_not_errors(client, verb, path, status):
    answer = getattr(client, verb)(path)
    assert answer.status == status
    assert not answer.ok
    assert 'error' in answer.json()


def test_the_answer_says_what_rhc_said(client):
    bad = client.post('/typed', json={'age': 'old'})
    assert bad.status == 400 and bad.json()['field'] == 'age'
    assert client.post('/typed', json={'age': 3}).json()['kwargs'] == {'age': 3}
    refused = client.post('/n/1')
    assert refused.status == 405
    assert {m.strip() for m in refused.headers['allow'].split(',')} == {'GET', 'HEAD'}


@pytest.mark.parametrize('verb', ['get', 'post', 'put', 'patch', 'delete'])
def test_every_verb_reaches_its_handler(client, verb):
    answer = getattr(client, verb)('/fields/x')
    assert answer.status == 200
    assert answer.json()['method'] == verb.upper()
    assert answer.json()['path'] == '/fields/x'


def test_head_has_the_headers_of_get_and_no_body(client):
    got = client.get('/str')
    head = client.head('/str')
    assert head.status == 200 and head.body == b''
    assert head.headers['content-length'] == got.headers['content-length'] == str(len(got.body))
    assert head.headers['content-type'] == got.headers['content-type']
    assert client.head('/nowhere').status == 404
    assert client.get('/ping').json() == {'ping': 'pong'}     # the connection still parses


def test_a_call_that_never_ends_times_out():
    with rhc.testing.Client(API, timeout=0.2) as client:
        with pytest.raises(rhc.CallError) as caught:
            client.get('/never')
        assert caught.value.status is None and 'timeout' in str(caught.value)
        assert client.get('/ping').status == 200
        with pytest.raises(rhc.CallError):
            client.get('/never', timeout=0.1)


# -- what is sent ---------------------------------------------------------------

def test_query_dict_is_encoded_and_appended(client):
    query = {'q': 'a b&c=d', 'é': 'ü', 'n': 3}
    seen = client.get('/fields', query=query).json()
    assert urllib.parse.parse_qs(seen['query_string']) == {
        'q': ['a b&c=d'], 'é': ['ü'], 'n': ['3']}
    assert seen['query'] == {'q': 'a b&c=d', 'é': 'ü', 'n': '3'}
    seen = client.get('/fields?x=1', query={'y': ['2', '3']}).json()
    assert urllib.parse.parse_qsl(seen['query_string']) == [('x', '1'), ('y', '2'), ('y', '3')]
    assert client.get('/fields?x=1', query={}).json()['query_string'] == 'x=1'


@pytest.mark.parametrize('value', [{'a': [1, 'two']}, [1, 2], 'text', 0, False])
def test_json_sends_a_json_body(client, value):
    seen = client.post('/fields', json=value).json()
    assert seen['content_type'] == 'application/json; charset=utf-8'
    assert json.loads(seen['body']) == value
    assert seen['json'] == value


def test_json_none_sends_no_body(client):
    seen = client.post('/fields').json()
    assert (seen['body'], seen['content_type']) == ('', None)


def test_data_bytes_text_and_form(client):
    seen = client.put('/fields', data=b'\x00\xffraw').json()
    assert seen['body'] == '\x00\xffraw' and seen['content_type'] is None
    seen = client.put('/fields', data=b'<a/>', headers={'content-type': 'text/xml'}).json()
    assert (seen['body'], seen['content_type']) == ('<a/>', 'text/xml')
    seen = client.patch('/fields', data='héllo').json()
    assert seen['body'].encode('latin-1').decode() == 'héllo'
    assert seen['content_type'] == 'text/plain; charset=utf-8'
    seen = client.post('/fields', data={'a': 'b c', 'd': 'é&'}).json()
    assert seen['content_type'] == 'application/x-www-form-urlencoded'
    assert urllib.parse.parse_qs(seen['body']) == {'a': ['b c'], 'd': ['é&']}
    assert seen['form'] == {'a': 'b c', 'd': 'é&'}


def test_headers_are_sent_and_json_keeps_a_given_content_type(client):
    headers = {'X-Test': 'yes', 'Content-Type': 'application/vnd+json'}
    seen = client.post('/fields', json={'a': 1}, headers=headers).json()
    assert seen['x_test'] == 'yes'
    assert seen['content_type'] == 'application/vnd+json'
    assert seen['json'] == {'a': 1}


def test_json_and_data_together_are_refused(client):
    with pytest.raises(TypeError, match='json= or data='):
        client.post('/fields', json={}, data=b'')


# -- where it listens ---------------------------------------------------------------

def test_every_server_listens_on_127_0_0_1_on_a_free_port(client):
    # The micro file says 8080: the client never needs it.
    assert client.service.settings['server.api.host'] == '127.0.0.1'
    port = client.port_of()
    assert port != 8080 and port > 0
    assert client.url == f'http://127.0.0.1:{port}'
    assert client.get('/whoami').json()['server'] == f'127.0.0.1:{port}'


def test_the_process_environment_does_not_move_a_server(monkeypatch):
    taken = free_port()
    monkeypatch.setenv('SERVER_API_PORT', str(taken))
    monkeypatch.setenv('SERVER_API_HOST', '0.0.0.0')
    with rhc.testing.Client(API) as client:
        assert client.port_of() != taken
        assert client.service.settings['server.api.host'] == '127.0.0.1'


@pytest.mark.parametrize('how', ['config', 'environ', 'config file'])
def test_config_or_environ_may_choose_the_port(tmp_path, how):
    port = free_port()
    config = environ = None
    if how == 'config':
        config = {'server.api.port': port}
    elif how == 'environ':
        environ = {'SERVER_API_PORT': str(port)}
    else:
        config = tmp_path / 'test.conf'
        config.write_text(f'server.api.port = {port}\n')
        config = str(config)
    with rhc.testing.Client(API, config=config, environ=environ) as client:
        assert client.port_of() == port
        assert client.get('/ping').status == 200


def test_a_port_in_use_names_the_server_line():
    with socket.socket() as taken:
        taken.bind(('127.0.0.1', 0))
        taken.listen()
        port = taken.getsockname()[1]
        before = open_fds()
        with pytest.raises(MicroError) as caught:
            with rhc.testing.Client(API, config={'server.api.port': port}):
                pass
        assert caught.value.line == API.index('SERVER api 8080') + 1
        assert f'port {port}' in str(caught.value)
        assert not new_fds(before)


def test_first_server_by_default_another_by_name():
    with rhc.testing.Client(TWO_SERVERS) as client:
        public, admin = client.port_of('public'), client.port_of('admin')
        assert public != admin
        assert client.get('/who').json()['server'] == f'127.0.0.1:{public}'
        assert client.server('admin').get('/who').json()['server'] == f'127.0.0.1:{admin}'
        assert client.get('/who', server='admin').json()['server'] == f'127.0.0.1:{admin}'
        assert client.server('admin').url == f'http://127.0.0.1:{admin}'
        with pytest.raises(LookupError,
                           match="no server 'nope' is listening; there is public, admin"):
            client.server('nope')


def test_an_inactive_server_is_not_there():
    with rhc.testing.Client(TWO_SERVERS, environ={'SERVER_PUBLIC_IS_ACTIVE': 'no'}) as client:
        assert client.get('/who').json()['server'] == f'127.0.0.1:{client.port_of("admin")}'
        with pytest.raises(LookupError):
            client.get('/who', server='public')


# -- configuration, SETUP and TEARDOWN ---------------------------------------------

def test_setup_then_requests_then_teardown(tmp_path):
    marker = tmp_path / 'marks'
    with rhc.testing.Client(API, config={'marker': str(marker)}) as client:
        assert marks(marker) == ['setup plain']
        client.get('/request')
        client.get('/request')
        assert marks(marker) == ['setup plain', 'request plain', 'request plain']
    assert marks(marker) == ['setup plain', 'request plain', 'request plain', 'teardown plain']


def test_config_then_environ_override_the_defaults(tmp_path, monkeypatch):
    with rhc.testing.Client(API) as client:
        assert client.get('/whoami').json()['name'] == 'plain'
        assert client.config.name == 'plain'
    with rhc.testing.Client(API, config={'name': 'configured'}) as client:
        assert client.get('/whoami').json()['name'] == 'configured'
    conf = tmp_path / 'test.conf'
    conf.write_text('name = from file\n')
    with rhc.testing.Client(API, config=str(conf),
                            environ={'TEST_CLIENT_NAME': 'from env'}) as client:
        assert client.get('/whoami').json()['name'] == 'from env'
        assert client.config.name == 'from env'
    # Without environ=, the process's environment is read, as the launcher reads it.
    monkeypatch.setenv('TEST_CLIENT_NAME', 'process')
    with rhc.testing.Client(API, config=str(conf)) as client:
        assert client.get('/whoami').json()['name'] == 'process'
    with rhc.testing.Client(API, config=str(conf), environ={}) as client:
        assert client.get('/whoami').json()['name'] == 'from file'


def test_a_bad_config_value_names_its_line(tmp_path):
    conf = tmp_path / 'bad.conf'
    conf.write_text('# comment\nnmae = typo\n')
    with pytest.raises(MicroError, match=f"{conf}:2: unknown setting 'nmae'"):
        with rhc.testing.Client(API, config=str(conf)):
            pass


def test_a_failing_setup_raises_and_leaves_nothing_open(tmp_path):
    marker = tmp_path / 'marks'
    before = open_fds()
    with pytest.raises(RuntimeError, match='setup failed on purpose'):
        with rhc.testing.Client(['SETUP testing_handlers.failing_setup',
                                 'TEARDOWN testing_handlers.teardown',
                                 'CONFIG name default=x', f'CONFIG marker default={marker}',
                                 'SERVER api 0', 'ROUTE /ping$', 'GET handlers.ping']):
            pass
    assert not new_fds(before)
    assert marks(marker) == []         # no TEARDOWN for a service that never started


# -- mocks and connections -------------------------------------------------------------

def test_mocks_answer_the_handlers_calls(client):
    fake = Quotes('mock')
    client.connection.quotes.mock = fake
    assert client.get('/quote/7').json() == {'by': 'mock'}
    assert fake.calls == [('GET', '/quotes/7')]
    failed = client.get('/quote/0')
    assert failed.status == 502 and '404' in failed.json()['error']


def test_without_a_mock_the_connection_is_really_called(serve):
    backend = serve(['SERVER quotes 0', r'ROUTE /quotes/(\d+)$', 'GET handlers.typed'])
    with rhc.testing.Client(API, environ={'CONNECTION_QUOTES_URL': backend.url}) as client:
        assert client.get('/quote/1').json()['args'] == ['1']
        assert client.get('/quote/2').json()['args'] == ['2']


def test_an_unknown_connection_is_an_attribute_error(client):
    with pytest.raises(AttributeError, match="no connection 'nope'"):
        client.connection.nope
    assert dir(client.connection) == ['quotes']


def test_handlers_see_the_clients_connections_not_the_processes(client):
    rhc.micro.load_connection(['CONNECTION quotes http://127.0.0.1:1', 'RESOURCE read /q/{id}'])
    rhc.micro.connection.quotes.mock = Quotes('process')
    client.connection.quotes.mock = Quotes('client')
    assert client.get('/quote/1').json() == {'by': 'client'}
    assert rhc.wait(rhc.micro.connection.quotes.read(1)) == {'by': 'process'}
    assert rhc.micro.connection.quotes is not client.connection.quotes


# -- the loop the handlers see ---------------------------------------------------------

def test_timers_and_coroutines_run_on_the_clients_loop(client):
    assert client.get('/delayed?ms=20').json() == {'delayed': 20, 'path': '/delayed'}
    assert client.get('/later').json() == {'later': True}


def test_the_process_loop_and_registry_are_left_alone():
    process_registry = rhc.registry.current()
    process_loop = rhc.loop.get_loop()
    with rhc.testing.Client(API) as client:
        client.get('/ping')
        assert rhc.loop.get_loop() is process_loop is not client.loop
        assert rhc.registry.current() is process_registry is not client.registry
        with pytest.raises(AttributeError):
            rhc.micro.connection.quotes          # the client's, not the process's
        assert 'api' not in process_registry.servers
    assert rhc.loop.get_loop() is process_loop


def test_micro_reset_does_not_touch_an_open_client(client):
    rhc.micro.reset()
    assert client.get('/ping').status == 200


# -- two clients ---------------------------------------------------------------------------

def test_two_clients_used_alternately_keep_their_config_and_mocks(tmp_path):
    first, second = tmp_path / 'first', tmp_path / 'second'
    a = rhc.testing.Client(API, config={'name': 'a', 'marker': str(first)})
    b = rhc.testing.Client(API, config={'name': 'b', 'marker': str(second)})
    with a, b:
        assert a.port_of() != b.port_of()
        a.connection.quotes.mock = Quotes('mock a')
        b.connection.quotes.mock = Quotes('mock b')
        for _ in range(2):
            assert a.get('/quote/1').json() == {'by': 'mock a'}
            assert b.get('/quote/1').json() == {'by': 'mock b'}
            assert a.get('/request').json() == {'name': 'a'}
            assert b.get('/request').json() == {'name': 'b'}
        assert (a.config.name, b.config.name) == ('a', 'b')
    assert marks(first) == ['setup a', 'request a', 'request a', 'teardown a']
    assert marks(second) == ['setup b', 'request b', 'request b', 'teardown b']


def test_nested_clients(tmp_path):
    outer_marks, inner_marks = tmp_path / 'outer', tmp_path / 'inner'
    before = open_fds()
    with rhc.testing.Client(API, config={'name': 'outer', 'marker': str(outer_marks)}) as outer:
        outer.connection.quotes.mock = Quotes('outer')
        with rhc.testing.Client(API, config={'name': 'inner',
                                             'marker': str(inner_marks)}) as inner:
            assert outer.get('/request').json() == {'name': 'outer'}
            assert inner.get('/request').json() == {'name': 'inner'}
            assert outer.get('/quote/1').json() == {'by': 'outer'}
            assert inner.get('/quote/1').status == 502        # no mock here: a refused call
        assert outer.get('/request').json() == {'name': 'outer'}
        assert marks(inner_marks) == ['setup inner', 'request inner', 'teardown inner']
    assert marks(outer_marks) == ['setup outer', 'request outer', 'request outer',
                                  'teardown outer']
    assert not new_fds(before)


# -- closing -----------------------------------------------------------------------------

def watched_at_close(client):
    """Record what the client's loop still watches and has scheduled when it closes."""
    seen = {}
    loop = client.loop
    close = loop.close

    def spy():
        seen['sockets'] = [key.fileobj for key in loop._selector.get_map().values()]
        seen['timers'] = [t for _, _, t in loop._timers if not t.cancelled]
        seen['ready'] = [h for h in loop._ready if not h.cancelled]
        seen['waker'] = loop._waker_r
        close()
    loop.close = spy
    return seen


def assert_all_closed(seen):
    assert seen['sockets'] == [seen['waker']]
    assert seen['timers'] == [] and seen['ready'] == []


def test_nothing_is_left_open_after_exit(serve):
    backend = serve(['SERVER quotes 0', r'ROUTE /quotes/(\d+)$', 'GET handlers.typed'])
    before = open_fds()
    with rhc.testing.Client(API, environ={'CONNECTION_QUOTES_URL': backend.url}) as client:
        port = client.port_of()
        seen = watched_at_close(client)
        client.get('/ping')
        client.get('/quote/1')          # the service's own pooled connection to the backend
        client.server('api').get('/ping')
        assert new_fds(before)
    assert_all_closed(seen)
    # The backend (in its thread) closes its end once it hears ours close.
    assert wait_for(lambda: not new_fds(before)), new_fds(before)
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(('127.0.0.1', port), timeout=2).close()
    with pytest.raises(RuntimeError, match='open the test client first'):
        client.get('/ping')


def test_an_exception_in_the_block_still_tears_down_and_closes(tmp_path):
    marker = tmp_path / 'marks'
    before = open_fds()
    with pytest.raises(ZeroDivisionError):
        with rhc.testing.Client(API, config={'marker': str(marker)}) as client:
            seen = watched_at_close(client)
            client.get('/request')
            1 / 0
    assert marks(marker) == ['setup plain', 'request plain', 'teardown plain']
    assert_all_closed(seen)
    assert not new_fds(before)


def test_a_client_is_opened_once():
    client = rhc.testing.Client(API)
    with pytest.raises(RuntimeError, match='open the test client first'):
        client.connection
    with client:
        with pytest.raises(RuntimeError, match='already open'):
            client.__enter__()
    with client:                         # closed, it may be opened again
        assert client.get('/ping').status == 200


# -- errors while loading --------------------------------------------------------------

@pytest.mark.parametrize('text, line, words', [
    ('SERVER s 0\n  ROUTE /ping$\n    GTE handlers.ping\n', 3, ["unknown directive 'GTE'"]),
    ('SERVER s 0\n  ROUTE /ping$\n    GET handlers.pnig\n', 3, ['pnig']),
    ('SERVER s 0\n  ROUTE /ping$\n    GET nosuchmodule_xyz.ping\n', 3, ['nosuchmodule_xyz']),
    ('SERVER s zero\n', 1, ['port', 'zero']),
])
def test_a_bad_micro_file_raises_micro_error_with_file_and_line(tmp_path, text, line, words):
    path = tmp_path / 'service.micro'
    path.write_text(text)
    before = open_fds()
    with pytest.raises(rhc.micro.MicroError) as caught:
        with rhc.testing.Client(str(path)):
            pass
    assert str(caught.value).startswith(f'{path}:{line}: ')
    for word in words:
        assert word in str(caught.value)
    assert not new_fds(before)


# -- files, https, imports ------------------------------------------------------------------

def test_a_micro_file_finds_the_handlers_beside_it(monkeypatch):
    monkeypatch.setattr(sys, 'path', [p for p in sys.path if p != os.path.join(EXAMPLES, 'ping')])
    with rhc.testing.Client(os.path.join(EXAMPLES, 'ping', 'service.micro')) as client:
        assert client.get('/test/ping').json() == {'ping': 'pong'}
        assert client.get('/openapi.json').json()['openapi'].startswith('3.1')


def test_an_https_server_is_called_over_https(certificate):
    cert, key = certificate
    with rhc.testing.Client(['SERVER secure 0', 'ROUTE /ping$', 'GET handlers.ping'],
                            environ={'SERVER_SECURE_SSL_IS_ACTIVE': 'true',
                                     'SERVER_SECURE_SSL_CERTFILE': cert,
                                     'SERVER_SECURE_SSL_KEYFILE': key}) as client:
        assert client.url.startswith('https://127.0.0.1:')
        assert client.get('/ping').json() == {'ping': 'pong'}


def test_import_rhc_does_not_import_the_test_client():
    code = 'import sys, rhc, rhc.micro; print("rhc.testing" in sys.modules)'
    done = subprocess.run([sys.executable, '-c', code], cwd=ROOT, capture_output=True,
                          text=True, timeout=20, env=dict(os.environ, PYTHONPATH=ROOT))
    assert done.stdout.strip() == 'False', done.stderr


# -- the two loop helpers the client stands on ------------------------------------------------

def test_loop_use_nests_and_restores():
    process = rhc.loop.get_loop()
    first, second = rhc.loop.Loop(), rhc.loop.Loop()
    try:
        with rhc.loop.use(first):
            assert rhc.loop.get_loop() is first
            with rhc.loop.use(second):
                assert rhc.loop.get_loop() is second
            assert rhc.loop.get_loop() is first
            rhc.micro.reset()                        # closes the process's loop, not this one
            assert rhc.loop.get_loop() is first
        assert rhc.loop.get_loop() is not first
    finally:
        first.close()
        second.close()
    assert process is not None


def test_loop_discard_closes_what_is_watched_and_cancels_timers():
    loop = rhc.loop.Loop()
    a, b = socket.socketpair()
    loop.add_reader(a, lambda: None)
    fired = []
    timer = loop.call_later(0, fired.append, 'timer')
    loop.call_soon(fired.append, 'soon')
    loop.discard()
    assert a.fileno() == -1 and timer.cancelled
    assert [key.fileobj for key in loop._selector.get_map().values()] == [loop._waker_r]
    ran = iter([False, True])
    loop.run_until(lambda: next(ran), timeout=0.05)
    assert fired == []
    loop.close()
    b.close()
