"""When coroutine handlers stop: the client went away, a timeout, the grace period;
and an `async def` SETUP, while which the servers listen and requests wait.

Cancellation raises `rhc.Cancelled` at the handler's await, its `finally`
blocks run, and its outbound call's socket closes: the backend sees it.
Also: a thousand concurrent coroutine requests each awaiting an outbound
call, with no leaked socket and memory back near its baseline; and a
completed client call leaves no garbage for the cycle collector.
"""
import gc
import os
import resource
import signal
import socket
import threading
import time

import pytest

import rhc
import rhc.micro
from rhc.loop import get_loop
from rhc.pool import MAX_IDLE

import async_handlers
from client_support import RawServer, load, port_of
from conftest import Launched

SERVICE = ['SERVER api 0',
           'ROUTE /hangs$', 'GET async_handlers.hangs_on_backend',
           'ROUTE /deadline$', 'GET async_handlers.hangs_with_deadline',
           'ROUTE /ping$', 'GET async_handlers.ret_dict',
           'ROUTE /awaits$', 'GET async_handlers.awaits_once']


@pytest.fixture
def backend():
    """A server that reads a request, never answers, and notes when its client hangs up."""
    closed = threading.Event()

    def hold(server, conn, index):
        server.request(conn)
        conn.settimeout(10)
        try:
            if conn.recv(100) == b'':
                closed.set()
        except OSError:
            closed.set()
    server = RawServer(hold)
    server.closed = closed
    yield server
    server.stop()


def test_a_client_that_disconnects_cancels_the_handler(backend):
    port = port_of(load(SERVICE))
    client = socket.create_connection(('127.0.0.1', port))
    client.sendall(f'GET /hangs?key=gone&backend={backend.url} HTTP/1.1\r\nHost: x\r\n\r\n'
                   .encode())
    loop = get_loop()
    assert loop.run_until(lambda: backend.requests == 1, timeout=5)
    client.close()
    assert loop.run_until(lambda: async_handlers.SEEN.get('gone') == 'finally ran', timeout=5)
    assert backend.closed.wait(5)       # the handler's outbound call was closed too


def test_wait_for_in_a_handler_cancels_the_call(backend):
    api = rhc.Connection(f'http://127.0.0.1:{port_of(load(SERVICE))}')
    assert rhc.wait(api.get(f'/deadline?key=dl&backend={backend.url}'), timeout=5) == \
        {'error': 'timeout'}
    assert backend.closed.wait(5)


def test_a_timed_out_wait_cancels_the_coroutine(backend):
    load(SERVICE)
    ran = []

    async def cell():
        try:
            await rhc.Connection(backend.url, timeout=30).get('/hang')
        finally:
            ran.append('finally')
    with pytest.raises(rhc.CallError, match='^timeout$'):
        rhc.wait(cell(), timeout=0.2)
    assert ran == ['finally']
    assert backend.closed.wait(5)


def _service_file(tmp_path, lines):
    path = tmp_path / 'service.micro'
    path.write_text('\n'.join(lines) + '\n')
    return str(path)


@pytest.mark.slow
def test_the_end_of_the_grace_period_cancels_the_handler(tmp_path):
    marker = tmp_path / 'finally.txt'
    source = _service_file(tmp_path, ['SERVER api 0', 'ROUTE /long$',
                                      'GET async_handlers.sleeps_long'])
    launched = Launched([source, '--grace', '0.5'],
                        env={'SERVER_API_HOST': '127.0.0.1', 'FINALLY_FILE': str(marker)})
    try:
        launched.wait_listening()
        client = socket.create_connection(('127.0.0.1', launched.port()), timeout=10)
        client.sendall(b'GET /long HTTP/1.1\r\nHost: x\r\n\r\n')
        time.sleep(0.3)
        launched.proc.send_signal(signal.SIGTERM)
        code = launched.proc.wait(10)
        assert code == 0
        assert marker.read_text() == 'finally ran'
        assert client.recv(100) == b''      # nothing was sent
        client.close()
    finally:
        launched.kill()


# -- an async SETUP ---------------------------------------------------------------------

def test_requests_wait_for_an_async_setup(tmp_path):
    service = load(['SETUP async_handlers.setup_slowly', 'SERVER api 0',
                    'ROUTE /after$', 'GET async_handlers.after_setup'])
    async_handlers.SEEN.pop('setup done', None)
    api = rhc.Connection(f'http://127.0.0.1:{port_of(service)}')
    assert rhc.wait(api.get('/after'), timeout=5) == {'setup done': True}
    assert service.starting is None


@pytest.mark.slow
def test_a_launched_service_listens_during_an_async_setup(tmp_path):
    marker = tmp_path / 'setup.txt'
    source = _service_file(tmp_path, ['SETUP async_handlers.setup_then_record',
                                      'SERVER api 0', 'ROUTE /pid$', 'GET async_handlers.pid'])
    launched = Launched([source], env={'SERVER_API_HOST': '127.0.0.1',
                                      'SETUP_FILE': str(marker)})
    try:
        launched.wait_listening()
        assert not marker.exists()      # listening already; SETUP still running
        api = rhc.Connection(f'http://127.0.0.1:{launched.port()}')
        assert rhc.wait(api.get('/pid'), timeout=5) == {'pid': launched.proc.pid}
        assert marker.read_text() == str(launched.proc.pid)     # served only after SETUP
        code, _, log = launched.terminate()
        assert code == 0, log
    finally:
        launched.kill()


@pytest.mark.parametrize('setup, message', [('async_handlers.setup_fails', 'no database'),
                                            ('handlers.boom', 'kaboom')])
def test_a_setup_that_raises_stops_the_service_with_status_1(tmp_path, setup, message):
    source = _service_file(tmp_path, [f'SETUP {setup}', 'SERVER api 0', 'ROUTE /pid$',
                                      'GET async_handlers.pid'])
    launched = Launched([source], env={'SERVER_API_HOST': '127.0.0.1'})
    try:
        code = launched.proc.wait(15)
        _, _, log = launched.terminate()
        assert code == 1, log
        assert 'SETUP failed' in log and message in log
    finally:
        launched.kill()


# -- a thousand at once ---------------------------------------------------------------------

def _fds(pid):
    return len(os.listdir(f'/proc/{pid}/fd'))


def _settled_fds(pid):
    """The process's descriptor count once it stops changing (closes land on later turns)."""
    last, deadline = -1, time.monotonic() + 10
    while time.monotonic() < deadline:
        now = _fds(pid)
        if now == last:
            return now
        last = now
        time.sleep(0.3)
    return last


def _rss_kib(pid):
    with open(f'/proc/{pid}/status') as f:
        return next(int(line.split()[1]) for line in f if line.startswith('VmRSS:'))


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_a_thousand_concurrent_coroutines_each_calling_out(tmp_path):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 8192), hard))
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        backend_port = s.getsockname()[1]
    source = _service_file(tmp_path, [
        'SERVER gateway 0', r'ROUTE /quote/(\d+)$', 'GET async_handlers.gateway',
        'SERVER backend 0', r'ROUTE /quote/(\d+)$', 'GET async_handlers.quote',
        'CONNECTION backend http://127.0.0.1:1', 'RESOURCE quote /quote/{quote_id}'])
    # Not verbose: a log line per outbound call would fill the pipe nobody reads here.
    launched = Launched([source, '--no-access-log'], env={
        'CONNECTION_BACKEND_IS_VERBOSE': 'false',
        'SERVER_GATEWAY_HOST': '127.0.0.1', 'SERVER_BACKEND_HOST': '127.0.0.1',
        'SERVER_BACKEND_PORT': str(backend_port),
        'CONNECTION_BACKEND_URL': f'http://127.0.0.1:{backend_port}'})
    try:
        launched.wait_listening(count=2)
        pid = launched.proc.pid
        api = rhc.Connection(f'http://127.0.0.1:{launched.port("gateway")}', timeout=30,
                             max_idle=0)

        async def burst(base):
            return await rhc.gather(*(api.get(f'/quote/{base + i}') for i in range(1000)))
        rhc.wait(burst(0), timeout=60)                  # warm: what a first burst allocates
        # The gateway keeps up to its pool's bound of idle backend connections
        # (each also an accepted one on the backend side); nothing else stays.
        fds = _settled_fds(pid)
        assert fds < 40 + 2 * MAX_IDLE, fds
        rss = _rss_kib(pid)
        results = rhc.wait(burst(1000), timeout=60)
        assert results == [{'id': str(1000 + i), 'text': f'quote {1000 + i}'} for i in range(1000)]
        assert _settled_fds(pid) <= fds
        assert _rss_kib(pid) < rss + 8 * 1024, (rss, _rss_kib(pid))   # back near its baseline
        code, _, log = launched.terminate()
        assert code == 0 and 'Traceback' not in log, log
    finally:
        launched.kill()
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


# -- garbage ----------------------------------------------------------------------------------

def garbage_after(api, path, calls, settle=False):
    """What the cycle collector finds after `calls` GETs of `path` (warmed up first:
    pools, caches, lazy imports), the collector off meanwhile."""
    for _ in range(20):
        rhc.wait(api.get(path))
    gc.collect()
    gc.disable()
    try:
        for _ in range(calls):
            rhc.wait(api.get(path))
        if settle:
            get_loop().run_until(lambda: False, timeout=0.1)     # the server sees each close
        return gc.collect()
    finally:
        gc.enable()


def test_a_completed_call_leaves_nothing_for_the_cycle_collector():
    api = rhc.Connection(f'http://127.0.0.1:{port_of(load(SERVICE))}')
    assert garbage_after(api, '/ping', 1000) == 0


def test_a_handler_that_awaits_leaves_nothing_for_the_cycle_collector():
    """Its task lets go of its context when the coroutine ends: the context holds
    the task and the request, and the request holds the task."""
    api = rhc.Connection(f'http://127.0.0.1:{port_of(load(SERVICE))}')
    assert rhc.wait(api.get('/awaits')) == {'awaited': True}
    assert garbage_after(api, '/awaits', 300) == 0


def test_a_closed_connection_leaves_nothing_for_the_cycle_collector():
    # Each call on its own connection: both sides' close paths run every time.
    api = rhc.Connection(f'http://127.0.0.1:{port_of(load(SERVICE))}', max_idle=0)
    assert garbage_after(api, '/ping', 300, settle=True) == 0
