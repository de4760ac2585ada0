"""The client against an rhc server in the same process, driven by `rhc.wait`."""
import pytest

import rhc
import rhc.micro as micro
from rhc.http import Response

from client_support import load, port_of

LINES = [
    'SERVER x 0',
    '  ROUTE /test/ping$',
    '    GET handlers.ping',
    '  ROUTE /inspect',
    '    GET handlers.inspect',
    '    POST handlers.inspect',
    '    PUT handlers.inspect',
    '    PATCH handlers.inspect',
    '    DELETE handlers.inspect',
    '  ROUTE /text$',
    '    GET handlers.text',
    '  ROUTE /empty$',
    '    GET handlers.empty',
    '  ROUTE /teapot$',
    '    GET handlers.teapot',
    '  ROUTE /not-json$',
    '    GET handlers.not_json',
]


@pytest.fixture
def con():
    service = load(LINES)
    return rhc.Connection(f'http://127.0.0.1:{port_of(service)}')


def test_notebook_flow_in_one_thread():
    service = micro.load_server(['SERVER x 0', 'ROUTE /test/ping$', 'GET handlers.ping'])
    url = f'http://127.0.0.1:{service.servers["x"].port}'
    assert rhc.wait(rhc.Connection(url).get('/test/ping')) == {'ping': 'pong'}


@pytest.mark.parametrize('verb', ['get', 'post', 'put', 'patch', 'delete'])
def test_every_verb_with_a_json_body(con, verb):
    result = rhc.wait(getattr(con, verb)('/inspect', {'a': 1, 'b': [1, 2]}), timeout=5)
    assert result['method'] == verb.upper()
    assert result['path'] == '/inspect'
    assert result['json'] == {'a': 1, 'b': [1, 2]}
    assert result['content_type'] == 'application/json; charset=utf-8'


@pytest.mark.parametrize('verb', ['get', 'post', 'put', 'patch', 'delete'])
def test_keyword_arguments_become_a_json_body(con, verb):
    result = rhc.wait(getattr(con, verb)('/inspect', first='ann', n=3), timeout=5)
    assert result['method'] == verb.upper()
    assert result['json'] == {'first': 'ann', 'n': 3}


def test_no_body_sends_no_content_type(con):
    result = rhc.wait(con.get('/inspect'), timeout=5)
    assert result['text'] == ''
    assert result['content_type'] is None
    result = rhc.wait(con.post('/inspect'), timeout=5)
    assert result['headers'].get('content-length') == '0'


def test_query_string_passes_through(con):
    result = rhc.wait(con.get('/inspect?a=1&b=two'), timeout=5)
    assert result['path'] == '/inspect'
    assert result['query'] == {'a': '1', 'b': 'two'}


def test_form_body_per_call_and_per_connection(con):
    result = rhc.wait(con.post('/inspect', {'a': '1', 'b': 'x y'}, is_form=True), timeout=5)
    assert result['content_type'] == 'application/x-www-form-urlencoded'
    assert result['form'] == {'a': '1', 'b': 'x y'}
    form_con = rhc.Connection(con.url, is_form=True)
    result = rhc.wait(form_con.put('/inspect', c='3'), timeout=5)
    assert result['form'] == {'c': '3'}
    assert result['json'] is None


def test_text_and_bytes_bodies(con):
    result = rhc.wait(con.post('/inspect', 'some text'), timeout=5)
    assert result['text'] == 'some text'
    assert result['content_type'] == 'text/plain; charset=utf-8'
    result = rhc.wait(con.post('/inspect', b'\x00raw'), timeout=5)
    assert result['headers']['content-length'] == '4'


def test_is_json_false_gives_text(con):
    assert rhc.wait(con.get('/test/ping', is_json=False), timeout=5) == '{"ping": "pong"}'
    text_con = rhc.Connection(con.url, is_json=False)
    assert rhc.wait(text_con.get('/text'), timeout=5) == 'plain words'
    # an empty answer with no Content-Type is not labelled text: bytes
    assert rhc.wait(text_con.get('/empty'), timeout=5) == b''


def test_empty_json_body_is_none(con):
    assert rhc.wait(con.get('/empty'), timeout=5) is None


def test_a_text_answer_stays_text_with_is_json(con):
    """is_json decodes JSON; an answer labelled text/plain is given as its text."""
    assert rhc.wait(con.get('/text'), timeout=5) == 'plain words'


def test_malformed_json_answer_with_is_json_is_an_error(con):
    with pytest.raises(rhc.CallError) as info:
        rhc.wait(con.get('/not-json'), timeout=5)
    assert 'malformed JSON' in str(info.value)
    assert info.value.status == 200
    assert rhc.wait(con.get('/test/ping'), timeout=5) == {'ping': 'pong'}


def test_error_status_is_a_call_error(con):
    with pytest.raises(rhc.CallError) as info:
        rhc.wait(con.get('/teapot'), timeout=5)
    assert info.value.status == 418
    assert str(info.value).startswith('418 ')
    assert 'short and stout' in str(info.value)
    with pytest.raises(rhc.CallError) as info:
        rhc.wait(con.get('/nowhere'), timeout=5)
    assert info.value.status == 404
    assert '404 Not Found' in str(info.value)
    # a keep-alive error answer leaves the socket usable
    assert rhc.wait(con.get('/test/ping'), timeout=5) == {'ping': 'pong'}
    assert con.connects == 1


def test_wrapper_per_connection_and_per_call(con):
    wrapped = rhc.Connection(con.url, wrapper=lambda result: ('w', result))
    assert rhc.wait(wrapped.get('/test/ping'), timeout=5) == ('w', {'ping': 'pong'})
    assert rhc.wait(con.get('/test/ping', wrapper=lambda r: r['ping']), timeout=5) == 'pong'
    # the per-call option wins over the connection's
    assert rhc.wait(wrapped.get('/test/ping', wrapper=len), timeout=5) == 1


def test_setup_hook_rewrites_path_headers_and_body(con):
    seen = []

    def setup(path, headers, body):
        seen.append((path, dict(headers), body))
        headers = dict(headers, **{'X-Signed': 'sig'})
        return path + '?signed=1', headers, body + b' '

    result = rhc.wait(con.post('/inspect', {'a': 1}, setup=setup), timeout=5)
    assert seen == [('/inspect', {'Content-Type': 'application/json; charset=utf-8'}, b'{"a": 1}')]
    assert result['query'] == {'signed': '1'}
    assert result['headers']['x-signed'] == 'sig'
    assert result['text'] == '{"a": 1} '
    assert result['headers']['content-length'] == str(len(b'{"a": 1} '))
    on_connection = rhc.Connection(con.url, setup=setup)
    assert rhc.wait(on_connection.get('/inspect'), timeout=5)['query'] == {'signed': '1'}


def test_handler_hook_gets_the_response(con):
    got = []

    def handler(response):
        got.append(response)
        return (response.status, response.headers.get('content-type'), response.body)

    status, ctype, body = rhc.wait(con.get('/teapot', handler=handler), timeout=5)
    assert status == 418          # the handler sees every status, not only 2xx
    assert ctype == 'application/json; charset=utf-8'
    assert body == b'{"error": "short and stout"}'
    assert isinstance(got[0], Response)
    hooked = rhc.Connection(con.url, handler=lambda response: response.status)
    assert rhc.wait(hooked.get('/test/ping'), timeout=5) == 200


def test_a_raising_hook_is_a_call_error_and_the_loop_goes_on(con):
    def handler(response):
        raise KeyError('boom')
    with pytest.raises(rhc.CallError) as info:
        rhc.wait(con.get('/test/ping', handler=handler), timeout=5)
    assert 'KeyError' in str(info.value)
    with pytest.raises(rhc.CallError):
        rhc.wait(con.get('/test/ping', setup=lambda *a: 1 / 0), timeout=5)
    assert rhc.wait(con.get('/test/ping'), timeout=5) == {'ping': 'pong'}


def test_headers_per_connection_and_per_call(con):
    both = rhc.Connection(con.url, headers={'X-Con': 'c', 'X-Both': 'from-connection'})
    result = rhc.wait(both.get('/inspect', headers={'X-Call': 'k', 'X-Both': 'from-call'}),
                      timeout=5)
    headers = result['headers']
    assert headers['x-con'] == 'c'
    assert headers['x-call'] == 'k'
    assert headers['x-both'] == 'from-call'
    assert headers['host'] == f'127.0.0.1:{con.port}'
    # the call's headers do not stick to the connection
    headers = rhc.wait(both.get('/inspect'), timeout=5)['headers']
    assert 'x-call' not in headers and headers['x-both'] == 'from-connection'


def test_explicit_content_type_is_kept(con):
    result = rhc.wait(con.post('/inspect', {'a': 1}, headers={'content-type': 'application/x-custom'}),
                      timeout=5)
    assert result['content_type'] == 'application/x-custom'


def test_bad_header_value_is_a_call_error(con):
    with pytest.raises(rhc.CallError) as info:
        rhc.wait(con.get('/inspect', headers={'X-Bad': 'a\r\nInjected: yes'}), timeout=5)
    assert 'bad request' in str(info.value)
    assert rhc.wait(con.get('/test/ping'), timeout=5) == {'ping': 'pong'}


def test_base_path_of_the_url_prefixes_every_call(con):
    prefixed = rhc.Connection(con.url + '/inspect/')
    assert rhc.wait(prefixed.get('/deeper'), timeout=5)['path'] == '/inspect/deeper'


def test_connect_one_shot():
    service = load(LINES)
    url = f'http://127.0.0.1:{port_of(service)}'
    results = []
    rhc.connect(lambda rc, result: results.append((rc, result)), url + '/test/ping')
    rhc.connect(lambda rc, result: results.append((rc, result)), url + '/inspect?q=1',
                method='POST', body={'a': 1}, headers={'X-One': '1'})
    rhc.connect(lambda rc, result: results.append((rc, result)), url + '/text', is_json=False)
    rhc.connect(lambda rc, result: results.append((rc, result)), url + '/nowhere')
    from rhc.loop import get_loop
    get_loop().run_until(lambda: len(results) == 4, timeout=5)
    assert len(results) == 4
    by_kind = {}
    for rc, result in results:
        if rc:
            by_kind['error'] = result
        elif isinstance(result, str):
            by_kind['text'] = result
        elif 'ping' in result:
            by_kind['ping'] = result
        else:
            by_kind['inspect'] = result
    assert by_kind['ping'] == {'ping': 'pong'}
    assert by_kind['text'] == 'plain words'
    assert by_kind['inspect']['method'] == 'POST'
    assert by_kind['inspect']['query'] == {'q': '1'}
    assert by_kind['inspect']['json'] == {'a': 1}
    assert by_kind['inspect']['headers']['x-one'] == '1'
    assert isinstance(by_kind['error'], rhc.CallError) and by_kind['error'].status == 404


def test_connect_with_keyword_body_and_wait():
    service = load(LINES)
    url = f'http://127.0.0.1:{port_of(service)}/inspect'
    result = rhc.wait(lambda cb: rhc.connect(cb, url, method='put', name='ann'), timeout=5)
    assert result['method'] == 'PUT'
    assert result['json'] == {'name': 'ann'}


def test_many_calls_in_flight_at_once(con):
    results = []
    for i in range(10):
        con.get(f'/inspect?i={i}')(lambda rc, result: results.append((rc, result)))
    from rhc.loop import get_loop
    get_loop().run_until(lambda: len(results) == 10, timeout=5)
    assert sorted(int(r['query']['i']) for rc, r in results if rc == 0) == list(range(10))
    # the sockets that served them are pooled, not left hanging
    assert 1 <= len(con.idle) <= 10
    before = con.connects
    for _ in range(5):
        rhc.wait(con.get('/test/ping'), timeout=5)
    assert con.connects == before


def test_sequential_calls_reuse_one_socket(con):
    for _ in range(20):
        assert rhc.wait(con.get('/test/ping'), timeout=5) == {'ping': 'pong'}
    assert con.connects == 1


def test_connection_rejects_a_non_http_url():
    with pytest.raises(ValueError):
        rhc.Connection('ftp://127.0.0.1/')
    with pytest.raises(ValueError):
        rhc.Connection('127.0.0.1:80')


def test_wait_serves_every_loaded_server_while_it_runs():
    first = load(LINES)
    second = load(['SERVER y 0', 'ROUTE /text$', 'GET handlers.text'])
    a = rhc.Connection(f'http://127.0.0.1:{port_of(first)}')
    b = rhc.Connection(f'http://127.0.0.1:{port_of(second)}', is_json=False)
    assert rhc.wait(a.get('/test/ping'), timeout=5) == {'ping': 'pong'}
    assert rhc.wait(b.get('/text'), timeout=5) == 'plain words'

