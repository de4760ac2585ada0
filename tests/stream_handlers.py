"""Handlers that answer with rhc.Stream, rhc.EventStream and rhc.File, for the streaming tests.

`EVENTS` records what the sources did (pulled, finished, closed), so a test
can ask the server (`GET /state`) or read it in-process.
"""
import os

import rhc

EVENTS = []
PULLED = {'count': 0}


def reset(request):
    EVENTS.clear()
    PULLED['count'] = 0
    return {}


def state(request):
    return {'events': EVENTS, 'pulled': PULLED['count']}


# -- Stream ------------------------------------------------------------------

def chunks(request):
    return rhc.Stream([b'one,', 'two,', bytearray(b'three')], content_type='text/plain')


def empty(request):
    return rhc.Stream([])


def with_status(request):
    return rhc.Stream(iter([b'made']), status=201, headers={'X-Made': 'yes'})


def no_body_status(request):
    return rhc.Stream(_recorded(['never sent']), status=204)


def _recorded(items):
    try:
        for item in items:
            yield item
    finally:
        EVENTS.append('closed')


def big(request):
    """`mib` MiB in 64 KiB chunks, the same bytes object each time (no garbage per chunk)."""
    chunk = b'x' * 65536
    count = int(request.query.get('mib', '200')) * 16

    def source():
        try:
            for _ in range(count):
                PULLED['count'] += 1
                yield chunk
            EVENTS.append('big finished')
        finally:
            EVENTS.append('big closed')
    return rhc.Stream(source())


def forever(request):
    """A sync generator that never ends: only a client going away stops it."""
    def source():
        try:
            while True:
                PULLED['count'] += 1
                yield b'y' * 65536
        finally:
            EVENTS.append('sync finally')
    return rhc.Stream(source())


async def forever_async(request):
    async def source():
        try:
            while True:
                PULLED['count'] += 1
                yield b'z' * 65536
                await rhc.sleep(0)
        finally:
            EVENTS.append('async finally')
    return rhc.Stream(source())


async def slow_async(request):
    """An async source that waits between chunks (as a real one waits on I/O)."""
    async def source():
        try:
            for i in range(3):
                await rhc.sleep(0.01)
                yield f'part {i}\n'
        finally:
            EVENTS.append('slow finally')
    return rhc.Stream(source(), content_type='text/plain; charset=utf-8')


async def waits_then_streams(request):
    await rhc.sleep(0.01)
    return rhc.Stream([b'after ', b'a wait'])


def fails_midway(request):
    def source():
        yield b'good start'
        raise RuntimeError('the source broke')
    return rhc.Stream(source())


def bad_item(request):
    return rhc.Stream([b'fine', 42])


def bad_header(request):
    return rhc.Stream([b'x'], headers={'X-Bad': 'a\r\nInjected: 1'})


# -- EventStream ---------------------------------------------------------------

def events(request):
    items = ['plain', 'two\nlines', {'n': 1, 'text': 'é'},
             rhc.Event('typed', event='update', id='7', retry=1500), rhc.Event('numbered', id=8)]
    return rhc.EventStream(items)


async def pinged(request):
    """One event, a silence long enough for pings, one more event."""
    async def source():
        yield 'first'
        await rhc.sleep(0.35)
        yield 'second'
    return rhc.EventStream(source(), ping=0.1)


def resume(request):
    """Events after the client's Last-Event-ID (a counter), three at a time."""
    start = int(request.last_event_id or 0) + 1
    EVENTS.append(f'last_event_id={request.last_event_id}')
    return rhc.EventStream(rhc.Event(f'event {n}', id=n, retry=50) for n in range(start, start + 3))


async def idle_events(request):
    """An event stream that says one thing and then waits until its client goes."""
    async def source():
        try:
            yield 'hello'
            await rhc.Future()
        finally:
            EVENTS.append('idle finally')
    return rhc.EventStream(source())


# -- File ----------------------------------------------------------------------

def _path(name):
    return os.path.join(os.environ.get('STREAM_TEST_FILES', '/nonexistent'), name)


def file(request, name):
    return rhc.File(_path(name))


def download(request, name):
    return rhc.File(_path(name), content_type='text/csv', filename=request.query.get('as', name))
