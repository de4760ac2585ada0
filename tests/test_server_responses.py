"""What a handler returns, how it answers, and what it sees: over real sockets.

Every call goes over TCP: through the test client (`rhc.testing.Client`)
where only the answer matters, and with `http.client`, a raw socket or `curl`
to a service served by the `serve` fixture (its own loop in a thread) where
the connection or the bytes on the wire are what is tested.
"""
import contextlib
import http.client
import json
import logging
import re
import socket
import shutil
import subprocess
import time
from email.utils import parsedate_to_datetime

import pytest

import rhc.loop
import rhc.testing

JSON = 'application/json; charset=utf-8'
TEXT = 'text/plain; charset=utf-8'
OCTETS = 'application/octet-stream'

RETURNS = [
    'SERVER api 0',
    'ROUTE /dict$', 'GET handlers.ret_dict',
    'ROUTE /list$', 'GET handlers.ret_list',
    'ROUTE /str$', 'GET handlers.ret_str',
    'ROUTE /bytes$', 'GET handlers.ret_bytes',
    'ROUTE /none$', 'GET handlers.ret_none',
    'ROUTE /int$', 'GET handlers.ret_int',
    'ROUTE /int204$', 'GET handlers.ret_int_204',
    'ROUTE /pair$', 'GET handlers.ret_pair',
    'ROUTE /triple$', 'GET handlers.ret_triple',
    'ROUTE /typed-triple$', 'GET handlers.ret_typed_triple',
    'ROUTE /wrong-length$', 'GET handlers.ret_wrong_length',
    'ROUTE /smuggle$', 'GET handlers.ret_smuggled_header',
    'ROUTE /unserializable$', 'GET handlers.ret_unserializable',
    'ROUTE /four-tuple$', 'GET handlers.ret_four_tuple',
    'ROUTE /string-status$', 'GET handlers.ret_string_status',
    'ROUTE /huge-status$', 'GET handlers.ret_huge_status',
    'ROUTE /bad-headers$', 'GET handlers.ret_bad_headers',
    'ROUTE /delayed-unserializable$', 'GET handlers.delayed_unserializable',
    'ROUTE /via-call$', 'GET handlers.via_call',
    'ROUTE /twice$', 'GET handlers.respond_twice',
    'ROUTE /message$', 'GET handlers.respond_message',
    'ROUTE /delayed$', 'GET handlers.delayed',
    'ROUTE /delayed-twice$', 'GET handlers.delayed_twice',
    'ROUTE /attrs', 'GET handlers.attributes', 'POST handlers.attributes',
    'ROUTE /json$', 'POST handlers.just_json',
    'ROUTE /teapot$', 'GET handlers.http_error',
    'ROUTE /conflict$', 'GET handlers.http_error_no_message',
    'ROUTE /boom$', 'GET handlers.boom',
    'ROUTE /only-post$', 'POST handlers.ret_dict', 'PUT handlers.ret_dict',
    'ROUTE /both$', 'GET handlers.ret_dict', 'DELETE handlers.ret_dict',
]


def call(port, method, path, body=None, headers=None):
    """(status, headers, body bytes) of one request on a fresh connection."""
    conn = http.client.HTTPConnection('127.0.0.1', port, timeout=5)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        return response.status, response.headers, response.read()
    finally:
        conn.close()


@pytest.fixture
def api(serve):
    return serve(RETURNS)


@pytest.fixture
def client():
    with rhc.testing.Client(RETURNS) as client:
        yield client


@pytest.fixture
def served_on_default_loop(serve):
    """`serve`, with `rhc.loop.get_loop()` returning the served loop.

    `rhc.timer` (and anything else that uses the process loop) schedules on
    `get_loop()`; the `serve` fixture runs its own Loop in a thread, so for
    the length of the test that loop *is* the process loop. Only the
    server's thread touches it.
    """
    with contextlib.ExitStack() as using:
        def start(lines, **kwargs):
            running = serve(lines, **kwargs)
            using.enter_context(rhc.loop.use(running.loop))
            return running
        yield start


# -- the return-value table ------------------------------------------------

@pytest.mark.parametrize('path, status, content_type, body', [
    ('/dict', 200, JSON, b'{"kind": "dict"}'),
    ('/list', 200, JSON, b'[1, "two", 3]'),
    ('/str', 200, TEXT, 'héllo'.encode()),
    ('/bytes', 200, OCTETS, b'\x00\x01\xff'),
    ('/none', 200, None, b''),
    ('/int', 202, None, b''),
    ('/pair', 201, JSON, b'{"created": true}'),
    ('/triple', 203, TEXT, b'with headers'),
])
def test_return_value_becomes_the_response(client, path, status, content_type, body):
    answer = client.get(path)
    assert answer.status == status
    assert answer.headers.get('Content-Type') == content_type
    if content_type == JSON:
        assert answer.json() == json.loads(body)
    else:
        assert answer.body == body
    assert answer.headers['Content-Length'] == str(len(answer.body))


def test_returned_json_parses(client):
    assert client.get('/list').json() == [1, 'two', 3]


def test_tuple_headers_are_sent(client):
    headers = client.get('/triple').headers
    assert headers['X-Extra'] == 'yes'
    assert headers['Cache-Control'] == 'no-store'


def test_content_type_in_returned_headers_replaces_the_default(client):
    answer = client.get('/typed-triple')
    assert answer.status == 200 and answer.body == b'<p>hi</p>'
    # A field sent twice would read as both values joined by a comma.
    assert answer.headers['Content-Type'] == 'text/html; charset=utf-8'


def test_content_length_in_returned_headers_cannot_break_framing(api):
    conn = http.client.HTTPConnection('127.0.0.1', api.port(), timeout=5)
    conn.request('GET', '/wrong-length')
    response = conn.getresponse()
    assert response.headers.get_all('Content-Length') == ['12']
    assert response.read() == b'twelve bytes'
    conn.request('GET', '/dict')
    assert json.loads(conn.getresponse().read()) == {'kind': 'dict'}
    conn.close()


def test_crlf_in_a_returned_header_is_refused(client):
    answer = client.get('/smuggle')
    assert answer.status == 500
    assert 'Set-Cookie' not in answer.headers and 'X-Evil' not in answer.headers
    assert answer.json()['error'] == 'internal server error'


def test_status_204_has_no_content_length(client):
    answer = client.get('/int204')
    assert answer.status == 204 and answer.body == b''
    assert 'Content-Length' not in answer.headers


def test_respond_counts_once(client):
    answer = client.get('/twice')
    assert answer.status == 201
    assert answer.json() == {'first': True}


def test_respond_with_reason_and_content_type(client):
    answer = client.get('/message')
    assert (answer.status, answer.reason) == (299, 'Fine Thanks')
    assert answer.headers['Content-Type'] == 'text/x-custom'
    assert answer.body == b'custom'


def test_delayed_response_from_a_timer(client):
    started = time.monotonic()
    answer = client.get('/delayed?ms=100')
    assert time.monotonic() - started >= 0.09
    assert answer.status == 200 and answer.headers['Content-Type'] == JSON
    assert answer.json() == {'delayed': 100, 'path': '/delayed'}


def test_delayed_respond_counts_once(client):
    answer = client.get('/delayed-twice')
    assert (answer.status, answer.body) == (200, b'first')


def test_delayed_requests_do_not_block_other_connections(served_on_default_loop):
    server = served_on_default_loop(RETURNS)
    slow = http.client.HTTPConnection('127.0.0.1', server.port(), timeout=5)
    slow.request('GET', '/delayed?ms=1000')
    started = time.monotonic()
    assert call(server.port(), 'GET', '/dict')[0] == 200
    assert time.monotonic() - started < 0.8
    response = slow.getresponse()
    assert json.loads(response.read())['delayed'] == 1000
    slow.close()


def test_delayed_request_then_next_on_same_connection(served_on_default_loop):
    server = served_on_default_loop(RETURNS)
    conn = http.client.HTTPConnection('127.0.0.1', server.port(), timeout=5)
    conn.request('GET', '/delayed?ms=30')
    assert json.loads(conn.getresponse().read())['delayed'] == 30
    conn.request('GET', '/dict')
    assert json.loads(conn.getresponse().read()) == {'kind': 'dict'}
    conn.close()


def test_request_call_answers_from_the_async_result(client, caplog):
    answer = client.get('/via-call', query={'outcome': 'ok'})
    assert (answer.status, answer.json()) == (200, {'called': True})
    assert client.get('/via-call', query={'outcome': 'none'}).status == 404
    answer = client.get('/via-call', query={'outcome': 'error'})
    assert answer.status == 500
    document = answer.json()
    assert document['error'] == 'internal server error'
    assert document['id'] in caplog.text


# -- what the handler sees -------------------------------------------------

def test_request_attributes(api):
    conn = http.client.HTTPConnection('127.0.0.1', api.port(), timeout=5)
    body = json.dumps({'a': [1, 2]}).encode()
    conn.request('POST', '/attrs/caf%C3%A9%20au%20lait?x=1&y=two&x=3&empty=',
                 body=body, headers={'Content-Type': 'application/json',
                                     'X-Mixed-Case': 'Value', 'X-Request-Id': 'abc-123'})
    response = conn.getresponse()
    assert response.status == 200
    seen = json.loads(response.read())
    local_port = conn.sock.getsockname()[1]
    conn.close()
    assert seen['method'] == seen['http_method'] == 'POST'
    assert seen['path'] == seen['http_resource'] == '/attrs/café au lait'
    assert seen['query_string'] == seen['http_query_string'] == 'x=1&y=two&x=3&empty='
    assert seen['query'] == seen['http_query'] == {'x': '3', 'y': 'two', 'empty': ''}
    assert seen['headers']['x-mixed-case'] == 'Value'
    assert seen['x_mixed'] == seen['x_mixed_item'] == 'Value'
    assert seen['http_headers'] == seen['headers']
    assert seen['body'] == seen['text'] == seen['http_content'] == body.decode()
    assert seen['json'] == {'a': [1, 2]}
    assert seen['request_id'] == 'abc-123'
    assert isinstance(seen['id'], int)
    assert seen['peer'] == ['127.0.0.1', local_port]


def test_request_form_and_text(client):
    answer = client.post('/attrs', data='a=1&b=h%C3%A9&a=2',
                         headers={'Content-Type': 'application/x-www-form-urlencoded'})
    seen = answer.json()
    assert answer.status == 200
    assert seen['form'] == {'a': '2', 'b': 'hé'}
    assert seen['text'] == 'a=1&b=h%C3%A9&a=2'


def test_request_json_is_none_without_a_body(client):
    answer = client.post('/json', data=b'', headers={'Content-Type': 'application/json'})
    assert (answer.status, answer.json()) == (200, {'json': None})


def test_malformed_json_body_is_400(client):
    answer = client.post('/json', data=b'{"a": ', headers={'Content-Type': 'application/json'})
    assert answer.status == 400
    assert answer.headers['Content-Type'] == JSON
    assert 'JSON' in answer.json()['error']


def test_connection_id_is_shared_by_requests_on_one_connection(api):
    conn = http.client.HTTPConnection('127.0.0.1', api.port(), timeout=5)
    ids = []
    for _ in range(2):
        conn.request('GET', '/attrs')
        ids.append(json.loads(conn.getresponse().read()))
    conn.close()
    other = json.loads(call(api.port(), 'GET', '/attrs')[2])
    assert ids[0]['id'] == ids[1]['id'] != other['id']
    assert ids[0]['request_id'] != ids[1]['request_id']


# -- automatic answers -----------------------------------------------------

def test_no_route_is_404(client):
    answer = client.get('/nowhere')
    assert answer.status == 404
    assert answer.headers['Content-Type'] == JSON
    assert 'error' in answer.json()


def test_route_is_matched_from_the_start_only(client):
    assert client.get('/prefix/dict').status == 404
    assert client.get('/dict/more').status == 404   # the pattern ends with $


def test_wrong_method_is_405_with_allow(client):
    answer = client.get('/only-post')
    assert answer.status == 405
    assert {m.strip() for m in answer.headers['Allow'].split(',')} == {'POST', 'PUT'}
    answer = client.post('/both')
    assert answer.status == 405
    assert {m.strip() for m in answer.headers['Allow'].split(',')} == {'GET', 'HEAD', 'DELETE'}


def test_head_on_a_get_route(api):
    conn = http.client.HTTPConnection('127.0.0.1', api.port(), timeout=5)
    conn.request('HEAD', '/str')
    response = conn.getresponse()
    assert response.status == 200
    assert response.getheader('Content-Length') == str(len('héllo'.encode()))
    assert response.getheader('Content-Type') == TEXT
    assert response.read() == b''
    # Nothing stray was sent: the next response on the connection parses.
    conn.request('GET', '/dict')
    response = conn.getresponse()
    assert json.loads(response.read()) == {'kind': 'dict'}
    conn.close()


def test_head_with_a_raw_socket_sends_no_body(api):
    import socket
    with socket.create_connection(('127.0.0.1', api.port()), timeout=5) as sock:
        sock.sendall(b'HEAD /dict HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')
        data = b''
        while chunk := sock.recv(4096):
            data += chunk
    head, _, rest = data.partition(b'\r\n\r\n')
    assert head.startswith(b'HTTP/1.1 200 ')
    assert int(re.search(rb'Content-Length: (\d+)', head).group(1)) > 0
    assert rest == b''


def test_http_error(client):
    answer = client.get('/teapot')
    assert answer.status == 418
    assert answer.headers['Content-Type'] == JSON
    assert answer.json() == {'error': 'short and stout'}
    answer = client.get('/conflict')
    assert (answer.status, answer.json()) == (409, {'error': None})


def test_raising_handler_is_500_with_a_logged_id(api, caplog):
    caplog.set_level(logging.INFO, logger='rhc')
    conn = http.client.HTTPConnection('127.0.0.1', api.port(), timeout=5)
    conn.request('GET', '/boom')
    response = conn.getresponse()
    assert response.status == 500
    document = json.loads(response.read())
    assert document['error'] == 'internal server error'
    assert re.fullmatch(r'[0-9a-f]+', document['id'])
    # The service keeps serving, on the same connection and on a new one.
    conn.request('GET', '/dict')
    assert json.loads(conn.getresponse().read()) == {'kind': 'dict'}
    conn.close()
    assert call(api.port(), 'GET', '/dict')[0] == 200
    failures = [r for r in caplog.records if document['id'] in r.getMessage()]
    assert failures, caplog.text
    assert failures[0].name.startswith('rhc')
    assert failures[0].levelno >= logging.ERROR
    assert failures[0].exc_info and 'kaboom' in str(failures[0].exc_info[1])


@pytest.mark.parametrize('path', ['/unserializable', '/four-tuple', '/string-status',
                                  '/huge-status', '/bad-headers'])
def test_unsendable_return_value_is_500_and_the_connection_goes_on(api, caplog, path):
    conn = http.client.HTTPConnection('127.0.0.1', api.port(), timeout=5)
    conn.request('GET', path)
    response = conn.getresponse()
    assert response.status == 500
    document = json.loads(response.read())
    assert document['error'] == 'internal server error'
    conn.request('GET', '/dict')
    assert json.loads(conn.getresponse().read()) == {'kind': 'dict'}
    conn.close()
    if 'id' in document:
        assert document['id'] in caplog.text


def test_unsendable_delayed_response_is_500(client, caplog):
    answer = client.get('/delayed-unserializable')
    assert answer.status == 500
    assert answer.json()['id'] in caplog.text


# -- headers on every response ---------------------------------------------

@pytest.mark.parametrize('path', ['/dict', '/none', '/int204', '/nowhere', '/only-post', '/boom', '/teapot'])
def test_date_and_request_id_on_every_response(client, path):
    headers = client.get(path).headers
    date = parsedate_to_datetime(headers['Date'])
    assert abs(date.timestamp() - time.time()) < 5
    assert re.fullmatch(r'[!-~]{1,128}', headers['X-Request-Id'])


def test_request_ids_are_fresh_each_time(client):
    ids = {client.get('/dict').headers['X-Request-Id'] for _ in range(3)}
    assert len(ids) == 3


@pytest.mark.parametrize('given', ['abc', 'a' * 128, 'x!~{}"#', '0'])
def test_sane_request_id_is_echoed(client, given):
    answer = client.get('/attrs', headers={'X-Request-Id': given})
    assert answer.headers['X-Request-Id'] == given
    assert answer.json()['request_id'] == given


@pytest.mark.parametrize('given', ['a' * 129, 'has space', 'caf\xe9', 'tab\there'])
def test_insane_request_id_is_replaced(api, given):
    _, headers, body = call(api.port(), 'GET', '/attrs',
                            headers={'X-Request-Id': given.encode('latin-1')})
    new = headers['X-Request-Id']
    assert new != given
    assert re.fullmatch(r'[!-~]{1,128}', new)
    assert json.loads(body)['request_id'] == new


def test_empty_request_id_is_replaced(api):
    import socket
    with socket.create_connection(('127.0.0.1', api.port()), timeout=5) as sock:
        sock.sendall(b'GET /dict HTTP/1.1\r\nHost: x\r\nX-Request-Id: \r\nConnection: close\r\n\r\n')
        data = b''
        while chunk := sock.recv(4096):
            data += chunk
    m = re.search(rb'\r\nX-Request-Id: ([!-~]+)\r\n', data)
    assert m, data


# -- the access log --------------------------------------------------------

def test_one_info_line_per_request(serve, caplog):
    caplog.set_level(logging.INFO, logger='rhc')
    server = serve(['SERVER api 0', 'ROUTE /ping$', 'GET handlers.ping',
                    'ROUTE /health$', 'SILENT', 'GET handlers.ping',
                    'ROUTE /boom$', 'SILENT', 'GET handlers.boom'])
    conn = http.client.HTTPConnection('127.0.0.1', server.port(), timeout=5)
    conn.request('POST', '/ping', body=b'12345')      # 405
    conn.getresponse().read()
    conn.request('GET', '/ping', headers={'X-Request-Id': 'log-me'})
    response = conn.getresponse()
    out = len(response.read())
    conn.request('GET', '/health', headers={'X-Request-Id': 'silent-one'})
    conn.getresponse().read()
    conn.request('GET', '/boom', headers={'X-Request-Id': 'silent-but-failed'})
    conn.getresponse().read()
    conn.close()
    deadline = time.monotonic() + 2
    while time.monotonic() < deadline and 'silent-but-failed' not in caplog.text:
        time.sleep(0.02)
    access = [r for r in caplog.records if r.name.startswith('rhc') and r.levelno == logging.INFO
              and 'request_id=' in r.getMessage()]
    lines = [r.getMessage() for r in access]
    ping = [line for line in lines if 'log-me' in line]
    assert len(ping) == 1, lines
    line = ping[0]
    assert re.search(r'conn=\d+', line)
    assert ' GET /ping 200 ' in line
    assert re.search(r'\d+(\.\d+)?ms', line)
    assert re.search(r'in=\d+ out=\d+', line)
    assert int(re.search(r'out=(\d+)', line).group(1)) > out
    post = [line for line in lines if ' POST /ping 405 ' in line]
    assert post and int(re.search(r'in=(\d+)', post[0]).group(1)) > 5     # head and body
    assert not [line for line in lines if 'silent-one' in line]
    assert [line for line in lines if 'silent-but-failed' in line and ' 500 ' in line]


def test_the_access_line_counts_the_bytes_of_each_request(serve, caplog):
    caplog.set_level(logging.INFO, logger='rhc')
    server = serve(['SERVER api 0', 'ROUTE /ping$', 'GET handlers.ping', 'POST handlers.ping'])
    first = b'POST /ping HTTP/1.1\r\nHost: t\r\nX-Request-Id: first\r\nContent-Length: 5\r\n\r\nhello'
    second = b'GET /ping HTTP/1.1\r\nHost: t\r\nX-Request-Id: second\r\nConnection: close\r\n\r\n'
    with socket.create_connection(('127.0.0.1', server.port()), timeout=5) as sock:
        sock.sendall(first + second)        # pipelined: one read holds both
        while sock.recv(65536):
            pass
    deadline = time.monotonic() + 2
    while time.monotonic() < deadline and 'request_id=second' not in caplog.text:
        time.sleep(0.02)
    sizes = {m.group(1): int(m.group(2)) for m in
             re.finditer(r'request_id=(\w+) .* in=(\d+) ', caplog.text)}
    assert sizes == {'first': len(first), 'second': len(second)}


# -- curl ------------------------------------------------------------------

CURL = shutil.which('curl')
needs_curl = pytest.mark.skipif(CURL is None, reason='curl is not installed')


def curl(*args):
    result = subprocess.run([CURL, '-sS', '--max-time', '5', *args],
                            capture_output=True, timeout=10)
    assert result.returncode == 0, result.stderr
    return result.stdout


@needs_curl
def test_curl_get_shows_headers(api):
    out = curl('-i', f'{api.url}/dict')
    head, _, body = out.partition(b'\r\n\r\n')
    assert head.startswith(b'HTTP/1.1 200 OK')
    assert b'Content-Type: application/json; charset=utf-8' in head
    assert b'X-Request-Id: ' in head and b'Date: ' in head
    assert json.loads(body) == {'kind': 'dict'}


@needs_curl
def test_curl_head(api):
    out = curl('-I', f'{api.url}/str')
    assert out.startswith(b'HTTP/1.1 200 OK')
    assert b'Content-Length: 6' in out


@needs_curl
def test_curl_reuses_one_connection(api):
    out = curl('-v', f'{api.url}/attrs', f'{api.url}/attrs', '-o', '/dev/null', '-o', '/dev/null',
               '-w', '%{num_connects}\n')
    assert out.split() == [b'1', b'0']


def test_head_on_an_error_has_no_body(api):
    conn = http.client.HTTPConnection('127.0.0.1', api.port(), timeout=5)
    conn.request('HEAD', '/nowhere')
    response = conn.getresponse()
    assert response.status == 404 and response.read() == b''
    assert int(response.getheader('Content-Length')) > 0
    conn.request('GET', '/dict')
    assert json.loads(conn.getresponse().read()) == {'kind': 'dict'}
    conn.close()
