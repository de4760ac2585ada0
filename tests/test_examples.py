"""Every example under examples/ served by `python -m rhc.launch`, as a newcomer runs it.

Each service is launched in a subprocess (the `launch` fixture) on 127.0.0.1
port 0 via `SERVER_<NAME>_PORT` / `SERVER_<NAME>_HOST`, its port read from
the `listening on NAME port N` log line, and called with http.client.
The last tests are the mistakes a newcomer makes first: a typo in a
directive, a handler module that does not exist, a port already in use.
"""
import csv
import io
import os
import socket
import subprocess
import sys

import pytest
from sseclient import SSEClient

from docs_support import EXAMPLES, ROOT, example, fetch, launch_env, server_names

EXAMPLE_NAMES = sorted(name for name in os.listdir(EXAMPLES)
                       if os.path.isfile(os.path.join(EXAMPLES, name, 'service.micro')))

def serve(launch, name, micro_file='service.micro', env=None, args=()):
    path = example(name, micro_file)
    proc = launch(path, *args, env=launch_env(path, **(env or {})))
    return proc.wait_listening(len(server_names(path)))


def run_launch(*args, env=None, cwd=ROOT):
    """`python -m rhc.launch ARGS` to completion: (exit code, stdout, stderr)."""
    full_env = dict(os.environ, PYTHONPATH=ROOT)
    full_env.update(env or {})
    done = subprocess.run([sys.executable, '-m', 'rhc.launch', *args], capture_output=True,
                          text=True, env=full_env, cwd=cwd, timeout=10)
    return done.returncode, done.stdout, done.stderr


def test_every_example_is_here():
    assert EXAMPLE_NAMES == ['auth', 'config', 'echo', 'gateway', 'ping', 'stream', 'tasks']


@pytest.mark.parametrize('name', EXAMPLE_NAMES)
def test_example_passes_check(name):
    code, out, err = run_launch(example(name), '--check')
    assert code == 0, err
    assert 'server ' in out


# -- ping --------------------------------------------------------------------

def test_ping(launch):
    proc = serve(launch, 'ping')
    reply = fetch(proc.port(), 'GET', '/test/ping')
    assert reply.status == 200
    assert reply.headers['Content-Type'] == 'application/json; charset=utf-8'
    assert reply.json == {'ping': 'pong'}
    assert fetch(proc.port(), 'GET', '/test/pong').status == 404
    assert fetch(proc.port(), 'POST', '/test/ping').status == 405
    code, _, log = proc.terminate()
    assert code == 0, log


# -- echo --------------------------------------------------------------------

def test_echo_returns_what_it_received(launch):
    proc = serve(launch, 'echo')
    reply = fetch(proc.port(), 'PUT', '/any/path?x=1&y=two', body='hello',
                  headers={'X-Hello': 'world'})
    assert reply.status == 200
    got = reply.json
    headers = {k.lower(): v for k, v in got['headers'].items()}
    assert (got['method'], got['path'], got['query'], got['body']) == \
        ('PUT', '/any/path', {'x': '1', 'y': 'two'}, 'hello')
    assert headers['x-hello'] == 'world'
    for method in ('GET', 'POST', 'PATCH', 'DELETE'):
        assert fetch(proc.port(), method, '/').json['method'] == method


# -- tasks -------------------------------------------------------------------

def test_tasks_crud(launch):
    port = serve(launch, 'tasks').port()
    created = fetch(port, 'POST', '/tasks', {'id': 7, 'title': 'write docs'})
    assert created.status == 201
    assert created.json == {'id': 7, 'title': 'write docs', 'state': 'open'}
    assert fetch(port, 'POST', '/tasks', {'id': 7, 'title': 'again'}).status == 409
    read = fetch(port, 'GET', '/tasks/7')
    assert read.status == 200 and read.json['id'] == 7          # ARG int: an int, not '7'
    updated = fetch(port, 'PUT', '/tasks/7', {'state': 'DONE'})  # ENUM to_lower folds it
    assert updated.json == {'id': 7, 'title': 'write docs', 'state': 'done'}
    fetch(port, 'POST', '/tasks', {'id': 8, 'title': 'test docs', 'state': 'doing'})
    assert [t['id'] for t in fetch(port, 'GET', '/tasks?state=done').json] == [7]
    assert [t['id'] for t in fetch(port, 'GET', '/tasks').json] == [7, 8]
    assert fetch(port, 'DELETE', '/tasks/7').status == 204
    missing = fetch(port, 'GET', '/tasks/7')
    assert missing.status == 404 and missing.json == {'error': 'no task 7'}


@pytest.mark.parametrize('body, field', [
    ({'id': 1}, 'title'),                                  # required
    ({'id': 0, 'title': 'x'}, 'id'),                       # count is >= 1
    ({'id': 'one', 'title': 'x'}, 'id'),                   # not an integer
    ({'id': 1, 'title': 'x', 'state': 'lost'}, 'state'),   # outside the ENUM
])
def test_tasks_rejects_bad_fields_naming_them(launch, body, field):
    reply = fetch(serve(launch, 'tasks').port(), 'POST', '/tasks', body)
    assert reply.status == 400
    assert reply.json['field'] == field


# -- gateway -----------------------------------------------------------------

GATEWAYS = ['service.micro', 'service_async.micro']     # callbacks, and coroutines


def serve_gateway(launch, micro_file='service.micro'):
    backend = serve(launch, 'gateway', 'backend.micro')
    url = f'http://127.0.0.1:{backend.port()}'
    return backend, serve(launch, 'gateway', micro_file, env={'CONNECTION_QUOTES_URL': url})


@pytest.mark.parametrize('micro_file', GATEWAYS)
def test_gateway_calls_the_backend(launch, micro_file):
    _, gateway = serve_gateway(launch, micro_file)
    port = gateway.port()
    assert fetch(port, 'GET', '/quote/1').json == {
        'quote': 'SIMPLE IS BETTER THAN COMPLEX.', 'by': 'Tim Peters'}
    added = fetch(port, 'POST', '/quote', {'text': 'Flat is better than nested.'})
    assert added.status == 201
    assert added.json == {'id': 2, 'text': 'Flat is better than nested.', 'author': 'anonymous'}
    assert fetch(port, 'GET', '/quote/2').json['quote'] == 'FLAT IS BETTER THAN NESTED.'
    missing = fetch(port, 'GET', '/quote/99')
    assert missing.status == 404 and missing.json == {'error': 'no such quote'}


@pytest.mark.parametrize('micro_file', GATEWAYS)
def test_gateway_answers_502_when_the_backend_is_down(launch, micro_file):
    backend, gateway = serve_gateway(launch, micro_file)
    backend.terminate()
    reply = fetch(gateway.port(), 'GET', '/quote/1')
    assert reply.status == 502
    assert reply.json == {'error': 'quotes service: connection refused'}


def test_async_gateway_gathers_two_calls(launch):
    _, gateway = serve_gateway(launch, 'service_async.micro')
    fetch(gateway.port(), 'POST', '/quote', {'text': 'Flat is better than nested.'})
    assert fetch(gateway.port(), 'GET', '/quotes/1/2').json == {
        'quotes': ['Simple is better than complex.', 'Flat is better than nested.']}
    assert fetch(gateway.port(), 'GET', '/quotes/1/99').status == 404


# -- auth --------------------------------------------------------------------

def test_auth_none_leaves_health_open(launch):
    reply = fetch(serve(launch, 'auth').port(), 'GET', '/health')
    assert (reply.status, reply.json) == (200, {'ok': True})


def test_auth_checks_the_token(launch):
    port = serve(launch, 'auth', env={'API_TOKEN': 'xyz'}).port()
    assert fetch(port, 'GET', '/secret').status == 401
    assert fetch(port, 'GET', '/secret', headers={'Authorization': 'Bearer secret'}).status == 401
    ok = fetch(port, 'GET', '/secret', headers={'Authorization': 'Bearer xyz'})
    assert (ok.status, ok.json) == (200, {'secret': 42})


# -- stream ------------------------------------------------------------------
# (tests/test_stream_browser.py opens its page in Chromium)

def progress_events(port, query, headers=None):
    reply = fetch(port, 'GET', f'/progress?{query}', headers=headers)
    assert reply.status == 200
    assert reply.headers['Content-Type'] == 'text/event-stream'
    assert reply.headers['Cache-Control'] == 'no-cache'
    return [(e.event, e.id, e.data) for e in SSEClient(iter([reply.body])).events()]


def test_stream_progress_feed(launch):
    port = serve(launch, 'stream').port()
    assert progress_events(port, 'steps=3&delay=0.01') == [
        ('progress', '1', '{"step":1,"of":3,"percent":33}'),
        ('progress', '2', '{"step":2,"of":3,"percent":67}'),
        ('progress', '3', '{"step":3,"of":3,"percent":100}'),
        ('done', None, 'finished'),
    ]
    # A browser that reconnects says where it got to; the feed goes on from there.
    assert progress_events(port, 'steps=3&delay=0.01', {'Last-Event-ID': '2'}) == [
        ('progress', '3', '{"step":3,"of":3,"percent":100}'), ('done', None, 'finished')]


def test_stream_csv_export(launch):
    port = serve(launch, 'stream').port()
    reply = fetch(port, 'GET', '/export.csv?rows=2000')
    assert reply.status == 200
    assert reply.headers['Transfer-Encoding'] == 'chunked'
    assert reply.headers['Content-Disposition'] == 'attachment; filename="export.csv"'
    rows = list(csv.reader(io.StringIO(reply.text)))
    assert rows[0] == ['id', 'name', 'square'] and len(rows) == 2001
    assert rows[-1] == ['2000', 'item 2000', str(2000 * 2000)]


def test_stream_serves_its_page(launch):
    reply = fetch(serve(launch, 'stream').port(), 'GET', '/')
    assert reply.status == 200 and reply.headers['Content-Type'] == 'text/html'
    assert "new EventSource('/progress?" in reply.text
    assert reply.headers['ETag'] and reply.headers['Last-Modified']


# -- config ------------------------------------------------------------------

CONF = example('config', 'service.conf')


@pytest.mark.parametrize('args, env, expected', [
    ((), {}, 'hello, ann!'),
    (('--config', CONF), {}, 'bonjour, ann! bonjour, ann!'),
    (('--config', CONF), {'GREETING': 'hi', 'REPEAT': '1'}, 'hi, ann!'),
])
def test_config_file_then_env(launch, args, env, expected):
    reply = fetch(serve(launch, 'config', env=env, args=args).port(), 'GET', '/greet/ann')
    assert (reply.status, reply.text) == (200, expected)


def test_config_only_says_where_each_value_came_from():
    code, out, err = run_launch(example('config'), '--config', CONF, '--config-only',
                                env={'GREETING': 'hi'})
    assert code == 0, err
    settings = {line.split('=')[0].strip(): line for line in out.splitlines()}
    assert 'hi' in settings['greeting'] and 'env GREETING' in settings['greeting']
    assert 'service.conf:3' in settings['repeat']
    assert '12345' in settings['server.greeter.port']


def test_config_file_with_an_unknown_key_names_its_line(tmp_path):
    conf = tmp_path / 'bad.conf'
    conf.write_text('greeting = hi\ngreting = typo\n')
    code, _, err = run_launch(example('config'), '--config', str(conf), '--check')
    assert code == 1
    assert f"{conf}:2: unknown setting 'greting'" in err
    assert 'Traceback' not in err


# -- a newcomer's first mistakes ----------------------------------------------

def test_help_lists_every_option():
    code, out, _ = run_launch('--help')
    assert code == 0
    for option in ('--config', '--check', '--config-only', '--openapi', '--log-level',
                   '--workers', '--grace'):
        assert option in out


def write_service(tmp_path, micro_text, handlers="def ping(request):\n    return 'pong'\n"):
    (tmp_path / 'ping.py').write_text(handlers)
    (tmp_path / 'service.micro').write_text(micro_text)
    return str(tmp_path / 'service.micro')


@pytest.mark.parametrize('micro_text, line, words', [
    ('SERVER s 0\n  ROUTE /ping$\n    GTE ping.ping\n', 3, ["unknown directive 'GTE'"]),
    ('SERVER s 0\n  ROUTE /ping$\n    GET pong.ping\n', 3, ['pong']),
    ('SERVER s 0\n  ROUTE /ping$\n    GET ping.pnig\n', 3, ['pnig']),
    ('SERVER s zero\n', 1, ['port', 'zero']),
], ids=['directive-typo', 'no-such-module', 'no-such-function', 'bad-port'])
def test_mistake_exits_1_naming_file_and_line(tmp_path, launch, micro_text, line, words):
    path = write_service(tmp_path, micro_text)
    proc = launch(path, env={'SERVER_S_HOST': '127.0.0.1'})
    _, err = proc.proc.communicate(timeout=10)
    assert proc.proc.returncode == 1, err
    assert f'service.micro:{line}: ' in err
    for word in words:
        assert word in err
    assert 'Traceback' not in err


def test_port_in_use_exits_1_naming_the_server_line(tmp_path, launch):
    path = write_service(tmp_path, '# a comment\nSERVER s 12345\n  ROUTE /ping$\n    GET ping.ping\n')
    with socket.socket() as taken:
        taken.bind(('127.0.0.1', 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc = launch(path, env={'SERVER_S_PORT': str(port), 'SERVER_S_HOST': '127.0.0.1'})
        _, err = proc.proc.communicate(timeout=10)
    assert proc.proc.returncode == 1, err
    assert 'service.micro:2: ' in err
    assert f'port {port}' in err
    assert 'Traceback' not in err
