"""`async def` handlers on rhc's own loop, over real sockets (SPEC §7).

Every return type and error from a coroutine, every awaitable rhc hands
out, concurrency, threads and asyncio, background tasks, per-request
contextvars, async AUTH, and the one loud failure: awaiting asyncio on
rhc's loop. Cancellation and SETUP are in tests/test_async_lifecycle.py.
"""
import logging
import time

import pytest

import rhc
import rhc.micro

from client_support import load, port_of

SERVICE = [
    'SERVER api 0',
    *[line for kind in ('dict', 'list', 'str', 'bytes', 'none', 'int', 'pair', 'triple')
      for line in (f'ROUTE /ret/{kind}$', f'GET async_handlers.ret_{kind}')],
    r'ROUTE /typed/(\d+)$', 'ARG int', 'GET async_handlers.typed',
    'CONTENT flag type=bool is_required=false',
    'ROUTE /teapot$', 'GET async_handlers.teapot',
    'ROUTE /boom$', 'GET async_handlers.boom',
    'ROUTE /boom-at-once$', 'GET async_handlers.boom_at_once',
    'ROUTE /responds$', 'GET async_handlers.responds_itself',
    'ROUTE /two-sleeps$', 'GET async_handlers.two_sleeps',
    'ROUTE /gather$', 'GET async_handlers.gather_calls',
    r'ROUTE /via-resource/(\d+)$', 'GET async_handlers.via_resource',
    'ROUTE /wrap$', 'GET async_handlers.via_wrap_and_partial',
    'ROUTE /future$', 'GET async_handlers.via_future',
    'ROUTE /wait-for$', 'GET async_handlers.wait_for_slow',
    'ROUTE /blocking$', 'GET async_handlers.blocking',
    'ROUTE /asyncio$', 'GET async_handlers.via_asyncio',
    'ROUTE /asyncio-raises$', 'GET async_handlers.asyncio_raises',
    'ROUTE /foreign$', 'GET async_handlers.foreign',
    'ROUTE /spawns$', 'GET async_handlers.spawns',
    r'ROUTE /context/(\w+)$', 'GET async_handlers.own_context',
    'ROUTE /plain-context$', 'GET async_handlers.plain_context',
    'ROUTE /private$', 'GET async_handlers.ret_dict', 'AUTH async_handlers.allow_token',
    'ROUTE /auth-raises$', 'GET async_handlers.ret_dict', 'AUTH async_handlers.auth_raises',
    'ROUTE /mixed$', 'GET handlers.ping', 'AUTH async_handlers.allow_token',
    r'ROUTE /quote/(\d+)$', 'GET async_handlers.quote',
]


@pytest.fixture
def api():
    port = port_of(load(SERVICE))
    rhc.micro.load_connection([f'CONNECTION backend http://127.0.0.1:{port}',
                               'RESOURCE quote /quote/{quote_id}'])
    return rhc.Connection(f'http://127.0.0.1:{port}', timeout=10)


def answer(api, path, **kwargs):
    return rhc.wait(api.get(path, full=True, **kwargs), timeout=10)


# -- what a coroutine returns becomes the response, as for a plain function -----------

@pytest.mark.parametrize('kind, status, content_type, body', [
    ('dict', 200, 'application/json; charset=utf-8', b'{"kind": "dict"}'),
    ('list', 200, 'application/json; charset=utf-8', b'[1, "two", 3]'),
    ('str', 200, 'text/plain; charset=utf-8', 'héllo'.encode()),
    ('bytes', 200, 'application/octet-stream', b'\x00\x01\xff'),
    ('none', 200, None, b''),
    ('int', 204, None, b''),
    ('pair', 201, 'application/json; charset=utf-8', b'{"created": true}'),
    ('triple', 202, 'text/plain; charset=utf-8', b'accepted'),
])
def test_each_return_type(api, kind, status, content_type, body):
    response = answer(api, f'/ret/{kind}')
    assert (response.status, response.headers.get('content-type'), response.body) == \
        (status, content_type, body)
    if kind == 'triple':
        assert response.headers['x-queue'] == 'slow'


def test_arguments_are_coerced_as_for_a_plain_handler(api):
    assert answer(api, '/typed/7?flag=yes').json() == {'number': 7, 'type': 'int', 'flag': True}
    bad = answer(api, '/typed/7?flag=maybe')
    assert (bad.status, bad.json()['field']) == (400, 'flag')


def test_http_error_after_an_await(api):
    response = answer(api, '/teapot')
    assert (response.status, response.json()) == (418, {'error': 'short and stout'})


@pytest.mark.parametrize('path', ['/boom', '/boom-at-once'])
def test_an_exception_is_a_500_with_the_id_logged(api, caplog, path):
    caplog.set_level(logging.ERROR, logger='rhc.request')
    response = answer(api, path)
    assert response.status == 500
    eid = response.json()['id']
    [record] = [r for r in caplog.records if eid in r.getMessage()]
    assert 'kaboom' in str(record.exc_info[1])


def test_respond_inside_a_coroutine(api):
    response = answer(api, '/responds')
    assert (response.status, response.text) == (203, 'said it myself')


# -- everything rhc hands out is awaitable -------------------------------------------------

def test_gather_runs_two_sleeps_at_once(api):
    took = answer(api, '/two-sleeps').json()['took']
    assert 0.29 < took < 0.5


def test_gather_of_two_connection_calls(api):
    port = api.port
    assert answer(api, f'/gather?port={port}').json() == [1, 2]


def test_a_resource_call_is_awaited(api):
    assert answer(api, '/via-resource/5').json() == {'quote': {'id': '5', 'text': 'quote 5'}}


def test_wrap_and_partial_are_awaited(api):
    assert answer(api, '/wrap').json() == {'wrap': 'w', 'partial': 42}


def test_a_future_hands_a_value_from_callback_code(api):
    assert answer(api, '/future').json() == {'future': 'handed over'}


def test_wait_for_times_out_as_a_call_error(api):
    assert answer(api, '/wait-for').json() == {'error': 'timeout'}


def test_to_thread_keeps_the_loop_serving(api):
    async def both():
        started = time.monotonic()
        slow = rhc.spawn(_timed(api.get('/blocking?s=0.5')))
        fast = await _timed(api.get('/ret/dict'))
        return await slow, fast, time.monotonic() - started
    (slow_result, slow_at), (fast_result, fast_at), total = rhc.wait(both(), timeout=10)
    assert slow_result == {'slept': 0.5} and fast_result == {'kind': 'dict'}
    assert fast_at < 0.3 < slow_at      # the quick one was not held up by the thread


async def _timed(call):
    started = time.monotonic()
    result = await call
    return result, time.monotonic() - started


def test_from_asyncio_runs_an_asyncio_coroutine(api):
    assert answer(api, '/asyncio').json() == {'asyncio': '_UnixSelectorEventLoop'}
    raised = answer(api, '/asyncio-raises')
    assert (raised.status, raised.json()) == (409, {'error': 'from asyncio'})


def test_awaiting_asyncio_on_rhcs_loop_fails_loudly(api, caplog):
    caplog.set_level(logging.ERROR, logger='rhc.request')
    response = answer(api, '/foreign')
    assert response.status == 500
    eid = response.json()['id']
    [record] = [r for r in caplog.records if eid in r.getMessage()]
    assert isinstance(record.exc_info[1], TypeError)
    assert 'rhc.from_asyncio' in str(record.exc_info[1])


def test_spawn_runs_a_background_task(api):
    assert answer(api, '/spawns').json() == {'spawned': True, 'done': True}


def test_wait_runs_a_coroutine_in_a_cell(api):
    async def cell():
        first = await api.get('/ret/dict')
        await rhc.sleep(0.01)
        return first, await api.get('/typed/3')
    assert rhc.wait(cell()) == ({'kind': 'dict'}, {'number': 3, 'type': 'int', 'flag': None})


# -- one context per request ----------------------------------------------------------------

def test_context_variables_never_leak_between_requests(api):
    names = [f'n{i}' for i in range(60)]

    async def many():
        return await rhc.gather(*(api.get(f'/context/{name}') for name in names))
    results = rhc.wait(many(), timeout=20)
    assert [r['seen'] for r in results] == names
    assert answer(api, '/plain-context').json() == {'seen': None}


# -- AUTH as a coroutine --------------------------------------------------------------------

def test_async_auth_allows_and_refuses(api):
    assert answer(api, '/private', headers={'X-Token': 'secret'}).status == 200
    refused = answer(api, '/private', headers={'X-Token': 'wrong'})
    assert (refused.status, refused.json()) == (401, {'error': 'unauthorized'})
    assert answer(api, '/mixed', headers={'X-Token': 'secret'}).json() == {'ping': 'pong'}
    assert answer(api, '/mixed').status == 401


def test_async_auth_that_raises_is_a_500(api):
    assert answer(api, '/auth-raises').status == 500
