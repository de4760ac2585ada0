"""What code written for the original rhc (and spindrift) relies on, kept working.

`request.respond(result)` with one positional argument, `python -m rhc.micro`
(and `python -m rhc`) as the serving command, `\\#` in config files, RESOURCE
names that match a connection's own attributes, and a backoff timer's
`re_start` going back to its first delay.
"""
import http.client
import json

import pytest

import micro
import rhc
import rhc.micro
import rhc.testing

from client_support import load, port_of


def get(port, path):
    conn = http.client.HTTPConnection('127.0.0.1', port, timeout=5)
    try:
        conn.request('GET', path)
        response = conn.getresponse()
        return response.status, response.getheader('Content-Type'), dict(response.getheaders()), \
            response.read()
    finally:
        conn.close()


# -- request.respond(result) -----------------------------------------------------------------

@pytest.fixture
def responder():
    with rhc.testing.Client(['SERVER api 0', 'ROUTE /respond$',
                             'GET handlers.respond_positional']) as client:
        yield client


def ask(client, kind):
    response = client.get('/respond', query={'kind': kind})
    return response.status, response.headers.get('content-type'), response.headers, \
        response.body


@pytest.mark.parametrize('kind, status, content_type, body', [
    ('dict', 200, 'application/json; charset=utf-8', b'{"a": 1}'),
    ('list', 200, 'application/json; charset=utf-8', b'[1, 2]'),
    ('str', 200, 'text/plain; charset=utf-8', b'text'),
    ('bytes', 200, 'application/octet-stream', b'\x00\xff'),
    ('none', 200, None, b''),
    ('int', 404, None, b''),
    ('pair', 201, 'application/json; charset=utf-8', b'{"made": true}'),
    ('triple', 202, 'text/plain; charset=utf-8', b'queued'),
])
def test_respond_with_one_argument_is_a_return_value(responder, kind, status, content_type,
                                                       body):
    got_status, got_type, headers, got_body = ask(responder, kind)
    assert (got_status, got_type, got_body) == (status, content_type, body)
    if kind == 'triple':
        assert headers['x-queue'] == '7'


def test_respond_with_a_bad_tuple_is_a_500_with_an_id(responder):
    status, _, _, body = ask(responder, 'four')
    assert status == 500 and json.loads(body)['id']


# -- the original command ------------------------------------------------------------------------

@pytest.mark.parametrize('module', ['rhc.micro', 'rhc'])
def test_python_m_rhc_micro_serves(launch, module, tmp_path):
    path = tmp_path / 'service.micro'
    path.write_text('SERVER api 0\n  ROUTE /test/ping$\n    GET handlers.ping\n')
    served = launch(str(path), env={'SERVER_API_HOST': '127.0.0.1'}, module=module)
    served.wait_listening()
    status, _, _, body = get(served.port(), '/test/ping')
    assert (status, json.loads(body)) == (200, {'ping': 'pong'})
    code, _, log = served.terminate()
    assert code == 0, log


# -- \\# in config files -------------------------------------------------------------------------

def test_an_escaped_hash_in_a_config_file_is_kept(tmp_path):
    config = tmp_path / 'service.conf'
    config.write_text('channel = \\#general   # the chat room\nother = a\\#b\\#c\n')
    service = rhc.micro.load_connection(['CONFIG channel', 'CONFIG other'], config=str(config))
    assert service.settings['channel'] == '#general'
    assert service.settings['other'] == 'a#b#c'


# -- RESOURCE names ---------------------------------------------------------------------------------

CLASHING = ['url', 'call', 'name', 'headers', 'settings', 'connection', 'resources']


def test_a_resource_named_like_an_attribute_is_still_the_resource():
    service = load(['SERVER api 0', r'ROUTE /r/(\w+)$', 'GET handlers.thing'])
    lines = [f'CONNECTION api http://127.0.0.1:{port_of(service)}']
    lines += [f'RESOURCE {name} /r/{name}' for name in CLASHING]
    rhc.micro.load_connection(lines)
    api = rhc.micro.connection.api
    for name in CLASHING:
        assert rhc.wait(getattr(api, name)(), timeout=5) == {'thing': name}


@pytest.mark.parametrize('name', ['mock', '_private'])
def test_a_resource_name_that_cannot_be_itself_is_an_error_naming_the_line(name):
    with pytest.raises(micro.MicroError) as info:
        rhc.micro.load_connection(['CONNECTION api http://127.0.0.1:1',
                                   f'RESOURCE {name} /x'])
    assert str(info.value) == (f"<lines>:2: RESOURCE name '{name}' is reserved: "
                               f"connection.api.{name} has another meaning")


# -- timers -------------------------------------------------------------------------------------------

def test_re_start_on_a_backoff_timer_goes_back_to_the_first_delay():
    timer = rhc.timer.add_backoff(lambda: None, 10, 1000)
    timer.start()
    timer.expire()
    rhc.loop.get_loop().run_until(lambda: not timer.is_running, timeout=1)
    timer.start()
    timer.expire()
    rhc.loop.get_loop().run_until(lambda: not timer.is_running, timeout=1)
    assert timer.duration == 40
    timer.re_start()
    assert timer.duration == 10 and timer.is_running
    timer.cancel()
