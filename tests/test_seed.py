"""The seed service, served and called the three ways a user meets it."""
import http.client
import json

import rhc
import rhc.micro as micro

SEED = ['SERVER useless 0', 'ROUTE /test/ping$', 'GET handlers.ping']


def test_ping_over_http_client(serve):
    server = serve(SEED)
    conn = http.client.HTTPConnection('127.0.0.1', server.port(), timeout=5)
    conn.request('GET', '/test/ping')
    response = conn.getresponse()
    assert response.status == 200
    assert response.getheader('Content-Type') == 'application/json; charset=utf-8'
    assert json.loads(response.read()) == {'ping': 'pong'}
    conn.close()


def test_notebook_flow_in_one_thread():
    service = micro.load_server(SEED)
    port = service.servers['useless'].port
    con = rhc.Connection(f'http://127.0.0.1:{port}')
    assert rhc.wait(con.get('/test/ping'), timeout=5) == {'ping': 'pong'}


def test_loading_again_replaces_the_server():
    lines = ['SERVER useless 0', 'ROUTE /test/ping$', 'GET handlers.ping']
    first = micro.load_server(lines).servers['useless'].port
    fixed = [f'SERVER useless {first}'] + lines[1:]
    second = micro.load_server(fixed).servers['useless'].port
    again = micro.load_server(fixed).servers['useless'].port
    assert first == second == again
    assert rhc.wait(rhc.Connection(f'http://127.0.0.1:{again}').get('/test/ping'), timeout=5) == {'ping': 'pong'}


def test_launch_serves_and_stops_on_sigterm(launch, tmp_path):
    (tmp_path / 'ping.py').write_text("def ping(request):\n    return {'ping': 'pong'}\n")
    (tmp_path / 'service.micro').write_text('SERVER useless 0\n  ROUTE /test/ping$\n    GET ping.ping\n')
    proc = launch(str(tmp_path / 'service.micro')).wait_listening()
    conn = http.client.HTTPConnection('127.0.0.1', proc.port(), timeout=5)
    conn.request('GET', '/test/ping')
    assert json.loads(conn.getresponse().read()) == {'ping': 'pong'}
    conn.close()
    code, _, log = proc.terminate()
    assert code == 0, log
