"""`async def` handlers named by the micro sources of tests/test_async_*.py (`async_handlers.NAME`)."""
import asyncio
import contextvars
import os
import time

import rhc
import rhc.micro

SEEN = {}       # what handlers record for the tests to read: finally blocks, setup, ...
who = contextvars.ContextVar('who', default=None)


async def ret_dict(request):
    return {'kind': 'dict'}


async def ret_list(request):
    return [1, 'two', 3]


async def ret_str(request):
    return 'héllo'


async def ret_bytes(request):
    return b'\x00\x01\xff'


async def ret_none(request):
    return None


async def ret_int(request):
    return 204


async def ret_pair(request):
    return 201, {'created': True}


async def ret_triple(request):
    await rhc.sleep(0)
    return 202, 'accepted', {'X-Queue': 'slow'}


async def typed(request, number, flag=None):
    await rhc.sleep(0.01)
    return {'number': number, 'type': type(number).__name__, 'flag': flag}


async def teapot(request):
    await rhc.sleep(0.01)
    raise rhc.HTTPError(418, 'short and stout')


async def boom(request):
    await rhc.sleep(0.01)
    raise RuntimeError('kaboom after an await')


async def boom_at_once(request):
    raise RuntimeError('kaboom before any await')


async def responds_itself(request):
    await rhc.sleep(0.01)
    request.respond(203, 'said it myself')


async def awaits_once(request):
    await rhc.sleep(0)
    return {'awaited': True}


async def two_sleeps(request):
    started = time.monotonic()
    await rhc.gather(rhc.sleep(0.3), rhc.sleep(0.3))
    return {'took': time.monotonic() - started}


async def gather_calls(request):
    """Two calls to this same server at once, through a plain Connection."""
    api = rhc.Connection(f'http://127.0.0.1:{request.query["port"]}')
    first, second = await rhc.gather(api.get('/typed/1'), api.get('/typed/2'))
    return [first['number'], second['number']]


async def via_resource(request, quote_id):
    return {'quote': await rhc.micro.connection.backend.quote(quote_id)}


async def via_wrap_and_partial(request):
    def later(callback, value):
        rhc.timer.add(lambda: callback(0, value), 10).start()

    @rhc.partial
    def doubled(callback, value):
        later(lambda rc, result: callback(rc, result * 2), value)
    return {'wrap': await rhc.wrap(later, 'w'), 'partial': await doubled(21)}


async def via_future(request):
    future = rhc.Future()
    rhc.timer.add(lambda: future.set_result('handed over'), 10).start()
    return {'future': await future}


async def wait_for_slow(request):
    try:
        await rhc.wait_for(rhc.sleep(5), 0.1)
    except rhc.CallError as e:
        return {'error': str(e)}


async def blocking(request):
    seconds = float(request.query.get('s', '0.5'))
    return {'slept': await rhc.to_thread(lambda: time.sleep(seconds) or seconds)}


async def via_asyncio(request):
    async def asyncio_work():
        await asyncio.sleep(0.05)
        return asyncio.get_running_loop().__class__.__name__
    return {'asyncio': await rhc.from_asyncio(asyncio_work())}


async def asyncio_raises(request):
    async def fails():
        await asyncio.sleep(0.01)
        raise rhc.HTTPError(409, 'from asyncio')
    return await rhc.from_asyncio(fails())


async def foreign(request):
    await asyncio.sleep(0.1)        # an asyncio awaitable, on rhc's loop
    return 'never'


async def spawns(request):
    async def background():
        await rhc.sleep(0.01)
        SEEN['spawned'] = request.request_id
    task = rhc.spawn(background())
    await task
    return {'spawned': SEEN['spawned'] == request.request_id, 'done': task.done()}


async def hangs_on_backend(request):
    """Await an outbound call that never answers; record that `finally` ran."""
    key = request.query['key']
    try:
        await rhc.Connection(request.query['backend'], timeout=30).get('/hang')
    finally:
        SEEN[key] = 'finally ran'


async def sleeps_long(request):
    try:
        await rhc.sleep(30)
    finally:
        marker = os.environ.get('FINALLY_FILE')
        if marker:
            with open(marker, 'w') as f:
                f.write('finally ran')


async def own_context(request, name):
    who.set(name)
    await rhc.sleep(0.001 * (hash(name) % 20))
    return {'set': name, 'seen': who.get()}


def plain_context(request):
    return {'seen': who.get()}


async def allow_token(request):
    await rhc.sleep(0.01)
    return request.headers.get('x-token') == 'secret'


async def auth_raises(request):
    raise RuntimeError('the auth service is down')


async def setup_slowly(config):
    SEEN['setup started'] = time.monotonic()
    await rhc.sleep(0.3)
    SEEN['setup done'] = time.monotonic()


async def setup_then_record(config):
    await rhc.sleep(0.3)
    marker = os.environ.get('SETUP_FILE')
    if marker:
        with open(marker, 'w') as f:
            f.write(f'{os.getpid()}')


async def setup_fails(config):
    await rhc.sleep(0.05)
    raise RuntimeError('no database')


def after_setup(request):
    return {'setup done': 'setup done' in SEEN}


async def gateway(request, quote_id):
    """The async gateway the load test drives: one outbound call per request."""
    return await rhc.micro.connection.backend.quote(quote_id)


def quote(request, quote_id):
    return {'id': quote_id, 'text': f'quote {quote_id}'}


def pid(request):
    return {'pid': os.getpid()}


async def hangs_with_deadline(request):
    """`rhc.wait_for` around an outbound call that never answers."""
    key = request.query['key']
    try:
        await rhc.wait_for(rhc.Connection(request.query['backend'], timeout=30).get('/hang'), 0.2)
    except rhc.CallError as e:
        SEEN[key] = str(e)
        return {'error': str(e)}
