"""Handlers of the benchmark's rhc service (bench/servers/rhc_app/service.micro).

GET /quote/ID is a gateway: it asks the backend for the quote and answers
with its JSON. BENCH_GATEWAY picks how (one entry of FLAVOURS; the harness
runs each flavour as its own server, see bench/lineup.py). The /stream/
routes are the streaming scenarios': a body from a generator, the same
bytes returned whole, and an event stream that idles after its first event.
"""
import os

import rhc
import rhc.micro as micro

BACKEND_URL = os.environ.get('CONNECTION_BACKEND_URL', 'http://127.0.0.1:9')
BACKEND = rhc.Connection(BACKEND_URL)
_untraced = []  # a Connection with trace=False, made on first use (an older rhc has none)
STREAM_BYTES = 100 * 1024 * 1024
STREAM_CHUNK = 64 * 1024
_whole = []     # the 100 MiB body, made on first use (other scenarios never pay for it)


def ping(request):
    return {'ping': 'pong'}


def user(request, user_id):
    return {'id': user_id, 'name': f'user{user_id}'}


def echo(request):
    return request.body


def upload(request):
    return {'bytes': len(request.body)}


def quote_resource(request, quote_id):
    """request.call on the micro file's CONNECTION backend / RESOURCE quote."""
    request.call(micro.connection.backend.quote(quote_id))


def quote_connection(request, quote_id):
    """request.call on a plain rhc.Connection."""
    request.call(BACKEND.get(f'/quote/{quote_id}'))


def quote_untraced(request, quote_id):
    """request.call on a plain rhc.Connection that passes no trace context on: the
    gateway without what trace propagation costs."""
    if not _untraced:
        _untraced.append(rhc.Connection(BACKEND_URL, trace=False))
    request.call(_untraced[0].get(f'/quote/{quote_id}'))


def stream_generator(request):
    chunk = b'x' * STREAM_CHUNK

    def chunks():
        for _ in range(STREAM_BYTES // STREAM_CHUNK):
            yield chunk
    return rhc.Stream(chunks())


def stream_whole(request):
    if not _whole:
        _whole.append(b'x' * STREAM_BYTES)
    return _whole[0]


def idle_events(request):
    async def events():
        yield 'hello'
        await rhc.Future()      # then nothing, until the client goes away
    return rhc.EventStream(events())


async def quote_async(request, quote_id):
    """An async def handler awaiting the micro file's RESOURCE."""
    return await micro.connection.backend.quote(quote_id)


async def ping_async(request):
    return {'ping': 'pong'}


async def user_async(request, user_id):
    return {'id': user_id, 'name': f'user{user_id}'}


FLAVOURS = {
    'resource': quote_resource,
    'connection': quote_connection,
    'connection-untraced': quote_untraced,
    'async': quote_async,
}

quote = FLAVOURS[os.environ.get('BENCH_GATEWAY', 'resource')]
if os.environ.get('BENCH_GATEWAY') == 'async':      # rhc-async: every handler a coroutine
    ping, user = ping_async, user_async
