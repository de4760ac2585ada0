"""Handlers for tests/test_testing_client.py (`testing_handlers.NAME`).

The lifecycle ones write to the file named by the CONFIG setting `marker`,
so a test can tell in which order SETUP, requests and TEARDOWN ran, and
that each read the configuration of its own client.
"""
import rhc
import rhc.micro


def _mark(word):
    with open(rhc.micro.config.marker, 'a', encoding='utf-8') as f:
        f.write(word + '\n')


def setup(config):
    """SETUP: gets the config as an argument, and sees it as rhc.micro.config too."""
    assert config.marker == rhc.micro.config.marker
    _mark(f'setup {config.name}')


def teardown():
    _mark(f'teardown {rhc.micro.config.name}')


def request(request):
    _mark(f'request {rhc.micro.config.name}')
    return {'name': rhc.micro.config.name}


def failing_setup(config):
    raise RuntimeError('setup failed on purpose')


def whoami(request):
    """What this handler sees of the process: its CONFIG and its server."""
    return {'name': rhc.micro.config.name, 'connections': dir(rhc.micro.connection),
            'server': request.headers.get('host')}


def quote(request, quote_id):
    """Answer through the micro connection `quotes`, as the current registry holds it."""
    request.call(rhc.micro.connection.quotes.read(quote_id),
                 on_error=lambda request, error: request.respond(502, {'error': str(error)}))


def later(request):
    """Answer from a coroutine spawned on the loop in use (with an await on its timer)."""
    request.delay()

    async def answer():
        await rhc.sleep(0.01)
        request.respond(200, {'later': True})
    rhc.spawn(answer())


def never(request):
    request.delay()


def fields(request):
    """How the body arrived: its type, raw text, and what rhc parsed from it."""
    content_type = request.headers.get('content-type')
    return {
        'method': request.method,
        'path': request.path,
        'query_string': request.query_string,
        'query': request.query,
        'content_type': content_type,
        'body': request.body.decode('latin-1'),
        'json': request.json if content_type and 'json' in content_type else None,
        'form': request.form if content_type and 'form' in content_type else None,
        'x_test': request.headers.get('x-test'),
    }
