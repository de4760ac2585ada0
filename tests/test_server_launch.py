"""`python -m rhc.launch`: serving, SETUP/TEARDOWN, graceful SIGTERM, --check, --config-only."""
import http.client
import json
import os
import re
import signal
import socket
import time

import pytest

LIFECYCLE = '''\
import os

import rhc

HERE = os.path.dirname(os.path.abspath(__file__))


def setup(config):
    with open(os.path.join(HERE, 'setup.done'), 'w') as f:
        f.write('setup')


def teardown():
    with open(os.path.join(HERE, 'teardown.done'), 'w') as f:
        f.write('teardown')


def ping(request):
    return {'ping': 'pong', 'setup': os.path.exists(os.path.join(HERE, 'setup.done'))}


def slow(request):
    open(os.path.join(HERE, 'slow.started'), 'w').close()
    request.delay()
    ms = int(request.query.get('ms', 1000))
    rhc.timer.add(lambda: request.respond(200, {'slow': ms, 'pad': 'x' * 100000}), ms).start()


def boom(request):
    raise ValueError('launched kaboom')
'''

SERVICE = '''\
# a launched service
SETUP lifecycle.setup
TEARDOWN lifecycle.teardown
SERVER api 0
  ROUTE /ping$
    GET lifecycle.ping
  ROUTE /slow$
    GET lifecycle.slow
  ROUTE /boom$
    GET lifecycle.boom
'''


@pytest.fixture
def service_file(tmp_path):
    (tmp_path / 'lifecycle.py').write_text(LIFECYCLE)
    path = tmp_path / 'service.micro'
    path.write_text(SERVICE)
    return path


def get(port, path, conn=None):
    own = conn is None
    conn = conn or http.client.HTTPConnection('127.0.0.1', port, timeout=5)
    try:
        conn.request('GET', path)
        response = conn.getresponse()
        return response.status, json.loads(response.read())
    finally:
        if own:
            conn.close()


def wait_for(path, within=3.0):
    deadline = time.monotonic() + within
    while not path.exists():
        assert time.monotonic() < deadline, f'{path.name} never appeared'
        time.sleep(0.01)


def refused(port, within=2.0):
    """True once connecting to `port` is refused (polling for `within` seconds)."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            socket.create_connection(('127.0.0.1', port), timeout=0.5).close()
        except ConnectionRefusedError:
            return True
        time.sleep(0.03)
    return False


def test_setup_serve_teardown(launch, service_file, tmp_path):
    proc = launch(str(service_file)).wait_listening()
    assert any(re.search(r'listening on api port \d+', line) for line in proc.log)
    assert (tmp_path / 'setup.done').exists()
    assert not (tmp_path / 'teardown.done').exists()
    assert get(proc.port(), '/ping') == (200, {'ping': 'pong', 'setup': True})
    code, _, log = proc.terminate()
    assert code == 0, log
    assert (tmp_path / 'teardown.done').read_text() == 'teardown'
    assert 'Traceback' not in log


def test_access_log_and_error_id_on_stderr(launch, service_file):
    proc = launch(str(service_file)).wait_listening()
    conn = http.client.HTTPConnection('127.0.0.1', proc.port(), timeout=5)
    conn.request('GET', '/boom', headers={'X-Request-Id': 'launched-boom'})
    response = conn.getresponse()
    assert response.status == 500
    error_id = json.loads(response.read())['id']
    conn.request('GET', '/ping', headers={'X-Request-Id': 'launched-ping'})
    assert conn.getresponse().status == 200
    conn.close()
    code, _, log = proc.terminate()
    assert code == 0
    assert re.search(rf'ERROR rhc[.\w]* .*{error_id}', log), log
    assert 'ValueError: launched kaboom' in log
    assert re.search(r'INFO rhc[.\w]* conn=\d+ request_id=launched-ping GET /ping 200 ', log), log
    assert re.search(r'request_id=launched-boom GET /boom 500 ', log), log


def test_sigterm_finishes_the_request_in_flight(launch, service_file, tmp_path):
    proc = launch(str(service_file)).wait_listening()
    port = proc.port()
    idle = http.client.HTTPConnection('127.0.0.1', port, timeout=5)
    assert get(port, '/ping', idle)[0] == 200          # an idle keep-alive connection
    busy = http.client.HTTPConnection('127.0.0.1', port, timeout=5)
    busy.request('GET', '/slow?ms=1200')
    wait_for(tmp_path / 'slow.started')                 # the request is in flight
    started = time.monotonic()
    proc.proc.send_signal(signal.SIGTERM)
    assert refused(port), 'still accepting after SIGTERM'
    assert proc.proc.poll() is None                     # waiting for the slow request
    response = busy.getresponse()
    assert response.status == 200
    assert response.getheader('Connection') == 'close'
    document = json.loads(response.read())
    assert document['slow'] == 1200 and len(document['pad']) == 100000
    busy.close()
    code, _, log = finish(proc)          # exits by itself: no second signal
    assert code == 0, log
    assert time.monotonic() - started < 4
    assert (tmp_path / 'teardown.done').exists()
    # The idle connection was closed, not kept for the grace period.
    with pytest.raises((http.client.HTTPException, OSError)):
        get(port, '/ping', idle)


def test_sigterm_grace_period_is_bounded(launch, service_file, tmp_path):
    proc = launch(str(service_file), '--grace', '0.5').wait_listening()
    busy = http.client.HTTPConnection('127.0.0.1', proc.port(), timeout=5)
    busy.request('GET', '/slow?ms=20000')
    wait_for(tmp_path / 'slow.started')
    started = time.monotonic()
    code, _, log = proc.terminate()
    assert code == 0, log
    assert time.monotonic() - started < 3
    assert 'grace' in log
    assert (tmp_path / 'teardown.done').exists()
    busy.close()


def test_sigint_stops_too(launch, service_file, tmp_path):
    proc = launch(str(service_file)).wait_listening()
    proc.proc.send_signal(signal.SIGINT)
    proc.proc.wait(10)      # no SIGTERM after it: that would be a second signal
    code, _, log = proc.terminate()
    assert code == 0, log
    assert (tmp_path / 'teardown.done').exists()


# -- --check ---------------------------------------------------------------

def finish(proc, timeout=15):
    out, err = proc.proc.communicate(timeout=timeout)
    return proc.proc.returncode, out, err


def test_check_prints_the_route_table(launch, service_file, tmp_path):
    code, out, err = finish(launch(str(service_file), '--check'))
    assert code == 0, err
    assert 'server api port 0' in out
    assert re.search(r'GET\s+/ping\$\s+-> lifecycle\.ping', out), out
    assert re.search(r'GET\s+/slow\$\s+-> lifecycle\.slow', out), out
    assert not (tmp_path / 'setup.done').exists()       # --check does not run SETUP


def test_check_shows_auth(launch, tmp_path):
    (tmp_path / 'service.micro').write_text(
        'SERVER api 0\nAUTH handlers.allow_token\nROUTE /a$\nGET handlers.ping\n'
        'POST handlers.ping\nAUTH none\n')
    code, out, err = finish(launch(str(tmp_path / 'service.micro'), '--check'))
    assert code == 0, err
    assert re.search(r'GET\s+/a\$\s+-> handlers\.ping\s+auth=handlers\.allow_token', out), out
    post = [line for line in out.splitlines() if 'POST' in line]
    assert post and 'auth=' not in post[0]


@pytest.mark.parametrize('text, line, words', [
    ('SERVER api 0\nROUTE /x$\nGIT handlers.ping\n', 3, 'GIT'),
    ('SERVER api 0\nGET handlers.ping\n', 2, 'ROUTE'),
    ('SERVER api port\n', 1, 'port'),
    ('SERVER api 0\nROUTE /x($\nGET handlers.ping\n', 2, 'regex'),
    ('# comment\n\nSERVER api 0\nROUTE /x$\nGET nosuchmodule_xyz.handler\n', 5, 'nosuchmodule_xyz'),
    ('SERVER api 0\nROUTE /x$\nGET handlers.no_such_function\n', 3, 'no_such_function'),
    ('SERVER api 0\nROUTE /x/(\\d+)$\nARG nosuchmodule_xyz.coerce\nGET handlers.ping\n', 3, 'nosuchmodule_xyz'),
    ('SERVER api 0\nAUTH nosuchmodule_xyz.check\nROUTE /x$\nGET handlers.ping\n', None, 'nosuchmodule_xyz'),
    ('SERVER api 0\nROUTE /x$\nGET handlers.ping\nCONTENT n int default=abc\n', 4, "'abc' for n"),
    ('SETUP nosuchmodule_xyz.setup\nSERVER api 0\n', 1, 'nosuchmodule_xyz'),
])
def test_check_reports_file_and_line(launch, tmp_path, text, line, words):
    path = tmp_path / 'service.micro'
    path.write_text(text)
    code, out, err = finish(launch(str(path), '--check'))
    assert code == 1, (out, err)
    assert 'Traceback' not in err
    m = re.search(r'(\S*service\.micro):(\d+): (.+)', err)
    assert m, err
    if line is not None:
        assert int(m.group(2)) == line, err
    assert words.lower() in m.group(3).lower(), err


def test_check_reports_a_handler_module_that_fails_to_import(launch, tmp_path):
    (tmp_path / 'broken_handlers.py').write_text('import no_such_dependency_xyz\n\ndef ping(r):\n    return 1\n')
    path = tmp_path / 'service.micro'
    path.write_text('SERVER api 0\nROUTE /x$\nGET broken_handlers.ping\n')
    code, out, err = finish(launch(str(path), '--check'))
    assert code == 1
    assert 'Traceback' not in err
    assert re.search(r'service\.micro:3: .*no_such_dependency_xyz', err), err


def test_serving_a_broken_file_exits_1(launch, tmp_path):
    path = tmp_path / 'service.micro'
    path.write_text('SERVER api 0\nROUTE /x$\nGET nosuchmodule_xyz.handler\n')
    code, out, err = finish(launch(str(path)))
    assert code == 1
    assert re.search(r'service\.micro:3: ', err) and 'Traceback' not in err


def test_port_in_use_names_the_server_line(launch, tmp_path):
    with socket.socket() as taken:
        taken.bind(('127.0.0.1', 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        path = tmp_path / 'service.micro'
        path.write_text(f'SERVER api {port}\nROUTE /x$\nGET handlers.ping\n')
        code, out, err = finish(launch(str(path), env={'SERVER_API_HOST': '127.0.0.1'}))
    assert code == 1, err
    assert re.search(r'service\.micro:1: .*port', err) and 'Traceback' not in err


# -- --config-only ---------------------------------------------------------

def test_config_only_shows_values_and_origins(launch, service_file, tmp_path):
    config = tmp_path / 'settings.conf'
    config.write_text('# overrides\nserver.api.idle_timeout = 5\n')
    proc = launch(str(service_file), '--config', str(config), '--config-only',
                  env={'SERVER_API_MAX_BODY': '1234'})
    code, out, err = finish(proc)
    assert code == 0, err
    rows = {}
    for line in out.splitlines():
        m = re.match(r'(\S+) = (.*?)\s+# (.+)$', line)
        assert m, line
        rows[m.group(1)] = (m.group(2), m.group(3))
    assert rows['server.api.max_body'] == ('1234', 'env SERVER_API_MAX_BODY')
    assert rows['server.api.idle_timeout'][0] == '5.0'
    assert rows['server.api.idle_timeout'][1].endswith('settings.conf:2')
    assert rows['server.api.port'][0] == '0'
    assert 'service.micro:4' in rows['server.api.port'][1]
    for key in ('max_request_line', 'max_header', 'max_header_fields', 'header_timeout',
                'ssl.is_active', 'host', 'is_active'):
        assert f'server.api.{key}' in rows
    assert not (tmp_path / 'setup.done').exists()


def test_config_only_reports_an_unknown_key(launch, service_file, tmp_path):
    config = tmp_path / 'settings.conf'
    config.write_text('server.api.port = 1\nserver.api.nonsense = 2\n')
    code, out, err = finish(launch(str(service_file), '--config', str(config), '--config-only'))
    assert code == 1
    assert re.search(r'settings\.conf:2: .*nonsense', err) and 'Traceback' not in err


def test_limits_from_the_environment_apply_when_launched(launch, service_file):
    proc = launch(str(service_file), env={'SERVER_API_MAX_REQUEST_LINE': '64'}).wait_listening()
    with socket.create_connection(('127.0.0.1', proc.port()), timeout=3) as sock:
        sock.sendall(b'GET /ping?' + b'x' * 100 + b' HTTP/1.1\r\nHost: t\r\n\r\n')
        assert sock.recv(4096).startswith(b'HTTP/1.1 414 ')
    assert get(proc.port(), '/ping')[0] == 200
    assert proc.terminate()[0] == 0


# -- out of file descriptors -----------------------------------------------

FEW_FDS = '''\
import os
import resource


def setup(config):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (len(os.listdir('/proc/self/fd')) + 6, hard))


def ping(request):
    return {'ping': 'pong'}
'''


def cpu_seconds(pid):
    with open(f'/proc/{pid}/stat') as f:
        fields = f.read().rsplit(')', 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf('SC_CLK_TCK')


@pytest.mark.skipif(not os.path.isdir('/proc/self/fd'), reason='needs /proc')
def test_out_of_descriptors_pauses_accepting_and_recovers(launch, tmp_path):
    (tmp_path / 'fewfds.py').write_text(FEW_FDS)
    (tmp_path / 'service.micro').write_text(
        'SETUP fewfds.setup\nSERVER api 0\nROUTE /ping$\nGET fewfds.ping\n')
    proc = launch(str(tmp_path / 'service.micro')).wait_listening()
    port = proc.port()
    clients = [socket.create_connection(('127.0.0.1', port), timeout=3) for _ in range(20)]
    try:
        time.sleep(0.3)
        before = cpu_seconds(proc.proc.pid)
        time.sleep(1.0)
        assert cpu_seconds(proc.proc.pid) - before < 0.3, 'spinning while out of descriptors'
    finally:
        for sock in clients:
            sock.close()
    deadline = time.monotonic() + 4
    while True:
        try:
            assert get(port, '/ping') == (200, {'ping': 'pong'})
            break
        except (OSError, http.client.HTTPException):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
    code, _, log = proc.terminate()
    assert code == 0, log
    assert re.search(r'WARNING rhc[.\w]* .*pausing accept', log), log
