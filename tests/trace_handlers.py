"""Handlers for tests/test_trace_propagation.py: a backend that records what it was sent,
and front handlers that call it every way rhc allows."""
import rhc
import rhc.micro

SEEN = []       # (traceparent, tracestate, x-request-id) of every backend request


def record(request):
    SEEN.append((request.headers.get('traceparent'), request.headers.get('tracestate'),
                 request.headers.get('x-request-id')))
    return {'ok': True}


def _backend():
    return rhc.Connection(rhc.micro.config.backend_url)


def plain(request):
    """request.call, then a second call from its on_success callback."""
    def again(request, result):
        request.call(_backend().get('/record'),
                     on_success=lambda request, result: request.respond(
                         {'trace_id': request.trace_id}))
    request.call(_backend().get('/record'), on_success=again)


@rhc.partial
def two_calls(task):
    task.call(_backend().get('/record'),
              on_success=lambda task, result: task.call(_backend().get('/record')))


def chain(request):
    """A Task chain: an @rhc.partial whose second call starts in a callback."""
    request.call(two_calls(), on_success=lambda request, result: request.respond(
        {'trace_id': request.trace_id}))


def via_resource(request):
    request.call(rhc.micro.connection.backend.record(),
                 on_success=lambda request, result: {'trace_id': request.trace_id})


async def coroutine(request):
    await _backend().get('/record')
    await rhc.gather(_backend().get('/record'), _backend().get('/record'))
    return {'trace_id': request.trace_id}


async def own_header(request):
    await _backend().get('/record', headers={'traceparent': request.query['mine'],
                                             'X-Request-Id': 'chosen-by-the-caller'})
    return {'trace_id': request.trace_id}


async def untraced(request):
    """Calls on a Connection made with trace=False: with and without headers of its own."""
    backend = rhc.Connection(rhc.micro.config.backend_url, trace=False)
    await backend.get('/record')
    await backend.get('/record', headers={'Accept': 'application/json'})
    return {'trace_id': request.trace_id}
