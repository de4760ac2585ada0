"""Connections from a micro file: `micro.connection.NAME.RESOURCE(...)`, and
services that call other services with `request.call`."""
import logging

import pytest

import rhc
import rhc.micro as micro

import handlers
from client_support import load, port_of, refused_port

TARGET = [
    'SERVER target 0',
    '  ROUTE /inspect',
    '    GET handlers.inspect',
    '    POST handlers.inspect',
    '    PUT handlers.inspect',
    '    DELETE handlers.inspect',
    '  ROUTE /teapot$',
    '    GET handlers.teapot',
]


@pytest.fixture
def url():
    return f'http://127.0.0.1:{port_of(load(TARGET))}'


def write_config(tmp_path, *lines):
    path = tmp_path / 'service.config'
    path.write_text('\n'.join(lines) + '\n')
    return str(path)


# -- resources ------------------------------------------------------------------------

def test_the_spec_example(url):
    micro.load_connection([
        f'CONNECTION placeholder {url}',
        'RESOURCE document /inspect/posts/{post_id}',
        'REQUIRED first_name',
        'OPTIONAL planet default=earth',
    ])
    result = rhc.wait(micro.connection.placeholder.document(1, 'ann'), timeout=5)
    assert result['method'] == 'GET'
    assert result['path'] == '/inspect/posts/1'
    assert result['json'] == {'first_name': 'ann', 'planet': 'earth'}
    result = rhc.wait(micro.connection.placeholder.document(2, 'bob', planet='mars'), timeout=5)
    assert result['json'] == {'first_name': 'bob', 'planet': 'mars'}


def test_path_parts_in_order_and_quoted(url):
    micro.load_connection([
        f'CONNECTION api {url}',
        'RESOURCE pair /inspect/{group}/items/{item} method=PUT',
    ])
    result = rhc.wait(micro.connection.api.pair('g1', 7), timeout=5)
    assert result['method'] == 'PUT'
    assert result['path'] == '/inspect/g1/items/7'
    assert result['text'] == ''            # no REQUIRED or OPTIONAL: no body
    assert result['content_type'] is None

    class Mock:                            # the path as sent, before the server decodes it
        def pair(self, method, path, headers, body):
            return path
    micro.connection.api.mock = Mock()
    assert rhc.wait(micro.connection.api.pair('a b', 'x/y?'), timeout=5) == '/inspect/a%20b/items/x%2Fy%3F'


def test_body_from_required_and_optional(url):
    micro.load_connection([
        f'CONNECTION api {url}',
        'RESOURCE create /inspect method=POST',
        '  REQUIRED name',
        '  REQUIRED age',
        '  OPTIONAL colour',
        '  OPTIONAL size default=10 validate=int',
        '  OPTIONAL planet config=home_planet',
        'CONFIG home_planet default=venus',
    ])
    create = micro.connection.api.create
    result = rhc.wait(create('ann', 33), timeout=5)
    # OPTIONALs without a value are left out; defaults go through validate
    assert result['json'] == {'name': 'ann', 'age': 33, 'size': 10, 'planet': 'venus'}
    result = rhc.wait(create('bob', 1, colour='red', size='7', planet='pluto'), timeout=5)
    assert result['json'] == {'name': 'bob', 'age': 1, 'colour': 'red', 'size': 7,
                              'planet': 'pluto'}
    with pytest.raises(ValueError, match='api.create.*size'):
        create('x', 1, size='big')


def test_optional_config_from_a_config_file(url, tmp_path):
    config = write_config(tmp_path, 'home_planet=saturn')
    micro.load_connection([
        f'CONNECTION api {url}',
        'RESOURCE create /inspect method=POST',
        '  OPTIONAL planet config=home_planet default=earth',
        'CONFIG home_planet',
    ], config=config)
    assert rhc.wait(micro.connection.api.create(), timeout=5)['json'] == {'planet': 'saturn'}


def test_form_resource(url):
    micro.load_connection([
        f'CONNECTION api {url}',
        'RESOURCE login /inspect method=POST is_form=true',
        '  REQUIRED user',
        '  OPTIONAL remember default=yes',
        'RESOURCE as_json /inspect method=POST',
        '  REQUIRED user',
    ])
    result = rhc.wait(micro.connection.api.login('ann'), timeout=5)
    assert result['content_type'] == 'application/x-www-form-urlencoded'
    assert result['form'] == {'user': 'ann', 'remember': 'yes'}
    result = rhc.wait(micro.connection.api.as_json('ann'), timeout=5)
    assert result['json'] == {'user': 'ann'}


def test_form_connection(url):
    micro.load_connection([
        f'CONNECTION api {url} is_form=true',
        'RESOURCE login /inspect method=POST',
        '  REQUIRED user',
    ])
    assert rhc.wait(micro.connection.api.login('ann'), timeout=5)['form'] == {'user': 'ann'}


def test_wrong_arguments_raise_type_error_naming_the_resource(url):
    micro.load_connection([
        f'CONNECTION api {url}',
        'RESOURCE document /posts/{post_id}',
        '  REQUIRED first_name',
        '  OPTIONAL planet',
    ])
    document = micro.connection.api.document
    with pytest.raises(TypeError, match=r'api\.document.*post_id, first_name'):
        document(1)
    with pytest.raises(TypeError, match=r'api\.document'):
        document(1, 'ann', 'extra')
    with pytest.raises(TypeError, match=r'api\.document.*colour'):
        document(1, 'ann', colour='red')
    with pytest.raises(AttributeError, match='no resource'):
        micro.connection.api.nothing


def test_error_status_through_a_resource(url):
    micro.load_connection([f'CONNECTION api {url}', 'RESOURCE pot /teapot'])
    with pytest.raises(rhc.CallError) as info:
        rhc.wait(micro.connection.api.pot(), timeout=5)
    assert info.value.status == 418


def test_refused_through_a_resource():
    micro.load_connection([f'CONNECTION api http://127.0.0.1:{refused_port()}',
                           'RESOURCE ping /ping'])
    with pytest.raises(rhc.CallError, match='connection refused'):
        rhc.wait(micro.connection.api.ping(), timeout=5)


def test_inactive_connection(url, tmp_path):
    config = write_config(tmp_path, 'connection.api.is_active=false')
    micro.load_connection([f'CONNECTION api {url}', 'RESOURCE ping /inspect'], config=config)
    with pytest.raises(rhc.CallError, match='not active'):
        rhc.wait(micro.connection.api.ping(), timeout=5)


def test_url_from_a_config_file(url, tmp_path):
    config = write_config(tmp_path, f'connection.api.url={url}/inspect')
    micro.load_connection(['CONNECTION api', 'RESOURCE ping /ping'], config=config)
    assert rhc.wait(micro.connection.api.ping(), timeout=5)['path'] == '/inspect/ping'


def test_connection_without_a_url():
    micro.load_connection(['CONNECTION api', 'RESOURCE ping /ping'])
    with pytest.raises(rhc.CallError, match='no url'):
        rhc.wait(micro.connection.api.ping(), timeout=5)


def test_url_from_code(url):
    handlers.UPSTREAM_URL.append(url)
    try:
        micro.load_connection(['CONNECTION api code=handlers.upstream_url',
                               'RESOURCE ping /inspect/ping'])
        assert rhc.wait(micro.connection.api.ping(), timeout=5)['path'] == '/inspect/ping'
        # asked at call time: a new url is used by the next call
        other = f'http://127.0.0.1:{port_of(load(["SERVER second 0", "ROUTE /inspect", "GET handlers.inspect"]))}'
        handlers.UPSTREAM_URL.append(other)
        assert rhc.wait(micro.connection.api.ping(), timeout=5)['headers']['host'] == other[7:]
    finally:
        handlers.UPSTREAM_URL.clear()


def test_timeout_from_the_connection_line():
    import socket
    listener = socket.socket()
    listener.bind(('127.0.0.1', 0))
    listener.listen(1)
    try:
        micro.load_connection([f'CONNECTION api http://127.0.0.1:{listener.getsockname()[1]} timeout=0.2',
                               'RESOURCE ping /ping', 'RESOURCE slow /slow timeout=0.4'])
        with pytest.raises(rhc.CallError, match='^timeout$'):
            rhc.wait(micro.connection.api.ping(), timeout=5)
    finally:
        listener.close()


def test_a_resource_is_also_an_async_callable(url):
    micro.load_connection([
        f'CONNECTION api {url}',
        'RESOURCE document /inspect/posts/{post_id} method=POST',
        '  REQUIRED first_name',
        '  OPTIONAL planet default=earth',
    ])
    document = micro.connection.api.document
    results = []
    document(lambda rc, result: results.append((rc, result)), 3, 'cy', planet='io')
    from rhc.loop import get_loop
    get_loop().run_until(lambda: results, timeout=5)
    rc, result = results[0]
    assert rc == 0 and result['path'] == '/inspect/posts/3'
    assert result['json'] == {'first_name': 'cy', 'planet': 'io'}
    # as rhc.wrap and Task.call run it
    assert rhc.wait(rhc.wrap(document, 4, 'di'), timeout=5)['path'] == '/inspect/posts/4'

    def lower(task):
        task.call(document, args=(5, 'ed'), kwargs={'planet': 'mars'},
                  on_success=lambda t, r: t.respond(r['json']))
    assert rhc.wait(rhc.wrap(lower), timeout=5) == {'first_name': 'ed', 'planet': 'mars'}
    # bad arguments through a callback are reported, not raised
    results.clear()
    rhc.call(lambda rc, result: results.append((rc, result)), rhc.wrap(document, 1, 2, 3))
    assert results[0][0] == 1 and isinstance(results[0][1], TypeError)


# -- headers ------------------------------------------------------------------------

def test_headers_default_config_and_code(url, tmp_path):
    config = write_config(tmp_path, 'connection.api.header.secret=from-config-file')
    micro.load_connection([
        f'CONNECTION api {url}',
        '  HEADER X-Fixed default=fixed-value',
        '  HEADER X-Secret config=secret default=unused',
        '  HEADER X-Unset config=unset',
        '  HEADER X-Token code=handlers.header_token',
        '  RESOURCE ping /inspect',
        '    HEADER X-Resource default=only-here',
        '  RESOURCE other /inspect',
    ], config=config)
    headers = rhc.wait(micro.connection.api.ping(), timeout=5)['headers']
    assert headers['x-fixed'] == 'fixed-value'
    assert headers['x-secret'] == 'from-config-file'
    assert 'x-unset' not in headers
    assert headers['x-token'] == 'token-from-code'
    assert headers['x-resource'] == 'only-here'
    headers = rhc.wait(micro.connection.api.other(), timeout=5)['headers']
    assert 'x-resource' not in headers
    assert headers['x-fixed'] == 'fixed-value'


def test_header_config_default_without_a_config_file(url):
    micro.load_connection([f'CONNECTION api {url}', 'HEADER X-Secret config=secret default=dflt',
                           'RESOURCE ping /inspect'])
    assert rhc.wait(micro.connection.api.ping(), timeout=5)['headers']['x-secret'] == 'dflt'


def test_header_config_from_the_environment(url, monkeypatch):
    monkeypatch.setenv('CONNECTION_API_HEADER_SECRET', 'from-env')
    micro.load_connection([f'CONNECTION api {url}', 'HEADER X-Secret config=secret',
                           'RESOURCE ping /inspect'])
    assert rhc.wait(micro.connection.api.ping(), timeout=5)['headers']['x-secret'] == 'from-env'


# -- hooks ---------------------------------------------------------------------------

def test_connection_hooks(url):
    micro.load_connection([
        f'CONNECTION api {url} wrapper=handlers.wrap_result setup=handlers.add_query',
        'RESOURCE ping /inspect',
        'RESOURCE status /inspect handler=handlers.status_only',
    ])
    result = rhc.wait(micro.connection.api.ping(), timeout=5)
    assert set(result) == {'wrapped'}
    assert result['wrapped']['query'] == {'from': 'setup'}
    assert result['wrapped']['headers']['x-setup'] == 'yes'
    assert rhc.wait(micro.connection.api.status(), timeout=5) == 200


def test_resource_hooks_and_is_json(url):
    micro.load_connection([
        f'CONNECTION api {url}',
        'RESOURCE wrapped /inspect wrapper=handlers.wrap_result',
        'RESOURCE pot /teapot handler=handlers.status_only',
        'RESOURCE raw /inspect is_json=false setup=handlers.add_query',
        'RESOURCE plain /inspect',
    ])
    api = micro.connection.api
    assert rhc.wait(api.wrapped(), timeout=5)['wrapped']['path'] == '/inspect'
    assert rhc.wait(api.pot(), timeout=5) == 418
    raw = rhc.wait(api.raw(), timeout=5)
    assert isinstance(raw, str) and '"from": "setup"' in raw
    plain = rhc.wait(api.plain(), timeout=5)
    assert plain['query'] == {} and 'wrapped' not in plain


# -- mocks ---------------------------------------------------------------------------

def test_mock_answers_instead_of_the_network():
    micro.load_connection([
        f'CONNECTION api http://127.0.0.1:{refused_port()}',
        '  HEADER X-Fixed default=f',
        '  RESOURCE document /posts/{post_id} method=PATCH',
        '    REQUIRED first_name',
        '    OPTIONAL planet default=earth',
        '  RESOURCE gone /gone',
    ])
    calls = []

    class Mock:
        def document(self, method, path, headers, body):
            calls.append((method, path, headers, body))
            return {'mocked': True}

        def gone(self, method, path, headers, body):
            raise rhc.CallError('404 Not Found', status=404)

    micro.connection.api.mock = Mock()
    assert rhc.wait(micro.connection.api.document(7, 'ann'), timeout=5) == {'mocked': True}
    assert calls == [('PATCH', '/posts/7', {'X-Fixed': 'f'},
                      {'first_name': 'ann', 'planet': 'earth'})]
    with pytest.raises(rhc.CallError) as info:
        rhc.wait(micro.connection.api.gone(), timeout=5)
    assert info.value.status == 404
    # without the mock, the network again (here: refused)
    micro.connection.api.mock = None
    with pytest.raises(rhc.CallError, match='connection refused'):
        rhc.wait(micro.connection.api.gone(), timeout=5)


def test_mock_raising_any_exception():
    micro.load_connection(['CONNECTION api http://127.0.0.1:1', 'RESOURCE thing /thing'])

    class Mock:
        def thing(self, method, path, headers, body):
            raise KeyError('no such thing')
    micro.connection.api.mock = Mock()
    results = []
    micro.connection.api.thing()(lambda rc, result: results.append((rc, result)))
    assert results[0][0] == 1 and isinstance(results[0][1], KeyError)
    with pytest.raises(KeyError):
        rhc.wait(micro.connection.api.thing(), timeout=5)


# -- logging -------------------------------------------------------------------------

def test_trace_logs_at_debug(url, caplog):
    micro.load_connection([
        f'CONNECTION api {url}',
        'RESOURCE traced /inspect method=POST trace=true',
        '  REQUIRED name',
        'RESOURCE quiet /inspect',
    ])
    caplog.set_level(logging.DEBUG, logger='rhc.connection')
    rhc.wait(micro.connection.api.traced('ann'), timeout=5)
    debug = [r.getMessage() for r in caplog.records
             if r.name == 'rhc.connection' and r.levelno == logging.DEBUG]
    assert any('api.traced send POST /inspect' in m and '"name": "ann"' in m for m in debug)
    assert any('api.traced received rc=0' in m for m in debug)
    caplog.clear()
    rhc.wait(micro.connection.api.quiet(), timeout=5)
    assert not [r for r in caplog.records if r.name == 'rhc.connection' and r.levelno == logging.DEBUG]


def test_verbose_logs_each_call_at_info(url, caplog, tmp_path):
    caplog.set_level(logging.INFO, logger='rhc.connection')
    micro.load_connection([f'CONNECTION api {url}', 'RESOURCE ping /inspect'])
    rhc.wait(micro.connection.api.ping(), timeout=5)
    assert any('api.ping GET' in r.getMessage() and 'ok' in r.getMessage()
               for r in caplog.records if r.name == 'rhc.connection')
    caplog.clear()
    micro.load_connection([f'CONNECTION api {url} is_verbose=false', 'RESOURCE ping /inspect'])
    rhc.wait(micro.connection.api.ping(), timeout=5)
    assert not [r for r in caplog.records if r.name == 'rhc.connection']


# -- a service calling a service --------------------------------------------------------

OTHER = [
    'SERVER other 0',
    '  ROUTE /thing/(\\w+)$',
    '    GET handlers.thing',
    '  ROUTE /empty$',
    '    GET handlers.empty',
]


def front(other_url):
    return [
        'SERVER front 0',
        '  ROUTE /relay/(\\w+)$',
        '    GET handlers.relay',
        '  ROUTE /success/(\\w+)$',
        '    GET handlers.relay_on_success',
        '  ROUTE /created/(\\w+)$',
        '    GET handlers.relay_on_success_code',
        '  ROUTE /none$',
        '    GET handlers.relay_none_404',
        '  ROUTE /guarded/(\\w+)$',
        '    GET handlers.relay_on_error',
        '  ROUTE /missing$',
        '    GET handlers.relay_missing',
        f'CONNECTION other {other_url}',
        '  RESOURCE thing /thing/{name}',
        '  RESOURCE empty /empty',
        '  RESOURCE missing /nothing/here',
    ]


@pytest.fixture
def two():
    """(front Connection, the other service)."""
    other = load(OTHER)
    service = load(front(f'http://127.0.0.1:{port_of(other)}'))
    return rhc.Connection(f'http://127.0.0.1:{port_of(service)}'), other


def test_request_call_answers_with_the_other_service_data(two):
    con, _ = two
    assert rhc.wait(con.get('/relay/apple'), timeout=5) == {'thing': 'apple'}
    assert rhc.wait(con.get('/success/pear'), timeout=5) == {'wrapped': {'thing': 'pear'}}


def test_request_call_on_success_code(two):
    con, _ = two
    assert rhc.wait(con.get('/created/fig', handler=lambda r: r.status), timeout=5) == 201
    assert rhc.wait(con.get('/created/fig'), timeout=5) == {'thing': 'fig'}


def test_request_call_on_none_404(two):
    con, _ = two
    with pytest.raises(rhc.CallError) as info:
        rhc.wait(con.get('/none'), timeout=5)
    assert info.value.status == 404


def test_request_call_is_500_when_the_other_service_is_down(two, caplog):
    con, other = two
    other.servers['other'].close()
    with pytest.raises(rhc.CallError) as info:
        rhc.wait(con.get('/relay/apple'), timeout=5)
    assert info.value.status == 500
    assert 'internal server error' in str(info.value)
    assert any('connection refused' in (r.exc_text or '') + r.getMessage() for r in caplog.records)
    # on_error answers as the handler chose
    with pytest.raises(rhc.CallError) as info:
        rhc.wait(con.get('/guarded/apple'), timeout=5)
    assert info.value.status == 502
    assert 'connection refused' in str(info.value)


def test_request_call_is_500_when_the_other_service_answers_an_error(two):
    con, _ = two
    with pytest.raises(rhc.CallError) as info:
        rhc.wait(con.get('/missing'), timeout=5)
    assert info.value.status == 500


def test_request_call_with_a_mocked_connection(two):
    con, _ = two

    class Mock:
        def thing(self, method, path, headers, body):
            return {'mocked': path}
    micro.connection.other.mock = Mock()
    assert rhc.wait(con.get('/relay/kiwi'), timeout=5) == {'mocked': '/thing/kiwi'}


def test_many_relayed_calls_at_once(two):
    con, _ = two
    results = []
    for i in range(20):
        con.get(f'/relay/n{i}')(lambda rc, result: results.append(result))
    from rhc.loop import get_loop
    get_loop().run_until(lambda: len(results) == 20, timeout=5)
    assert sorted(r['thing'] for r in results) == sorted(f'n{i}' for i in range(20))


# -- launched ----------------------------------------------------------------------------

def test_launched_service_has_its_connections_before_setup(launch, tmp_path):
    marker = tmp_path / 'marker'
    (tmp_path / 'service.micro').write_text(
        'SERVER x 0\n'
        '  ROUTE /test/ping$\n'
        '    GET handlers.ping\n'
        'CONNECTION upstream http://127.0.0.1:1\n'
        '  RESOURCE thing /thing\n'
        'CONFIG marker\n'
        'SETUP handlers.check_connection_ready\n')
    config = tmp_path / 'launch.config'
    config.write_text(f'marker={marker}\n')
    proc = launch(str(tmp_path / 'service.micro'), '--config', str(config),
                  env={'SERVER_X_HOST': '127.0.0.1'})
    proc.wait_listening(timeout=10)
    assert marker.read_text() == 'connections ready'
    code, _, log = proc.terminate()
    assert code == 0, log
