"""Handlers named by the micro sources of the tests (`handlers.NAME`)."""
import json as _json
import os as _os

import rhc
import rhc.micro


def ping(request):
    return {'ping': 'pong'}


def echo(request):
    return {'method': request.method, 'path': request.path, 'query': request.query,
            'body': request.text}


def upper(value):
    """A CONFIG validator: any string, upper-cased."""
    return str(value).upper()


# -- tests/test_server_*.py ------------------------------------------------


def ret_dict(request):
    return {'kind': 'dict'}


def ret_list(request):
    return [1, 'two', 3]


def ret_str(request):
    return 'héllo'


def ret_bytes(request):
    return b'\x00\x01\xff'


def ret_none(request):
    return None


def ret_int(request):
    return 202


def ret_int_204(request):
    return 204


def ret_pair(request):
    return 201, {'created': True}


def ret_triple(request):
    return 203, 'with headers', {'X-Extra': 'yes', 'Cache-Control': 'no-store'}


def ret_typed_triple(request):
    return 200, '<p>hi</p>', {'Content-Type': 'text/html; charset=utf-8'}


def respond_twice(request):
    request.respond(201, {'first': True})
    request.respond(500, {'second': True})
    return 'ignored'


def respond_message(request):
    request.respond(299, 'custom', message='Fine Thanks', content_type='text/x-custom')


def delayed(request):
    """Answer from a timer; `?ms=N` says how long (default 50)."""
    request.delay()
    ms = int(request.query.get('ms', 50))
    rhc.timer.add(lambda: request.respond(200, {'delayed': ms, 'path': request.path}), ms).start()


def delayed_twice(request):
    request.delay()

    def later():
        request.respond(200, 'first')
        request.respond(500, 'second')
    rhc.timer.add(later, 20).start()


def attributes(request):
    content_type = request.headers.get('content-type', '')
    return {
        'method': request.method,
        'path': request.path,
        'query_string': request.query_string,
        'query': request.query,
        'headers': dict(request.headers),
        'x_mixed': request.headers.get('X-MiXeD-CaSe'),
        'x_mixed_item': request.headers['x-mixed-case'] if 'X-MIXED-CASE' in request.headers else None,
        'body': request.body.decode('latin-1'),
        'text': request.text,
        'json': request.json if 'json' in content_type else None,
        'form': request.form if 'form' in content_type else None,
        'id': request.id,
        'request_id': request.request_id,
        'peer': list(request.peer),
        'http_method': request.http_method,
        'http_resource': request.http_resource,
        'http_query_string': request.http_query_string,
        'http_query': request.http_query,
        'http_headers': dict(request.http_headers),
        'http_content': request.http_content,
    }


def conn_id(request):
    return {'id': request.id, 'request_id': request.request_id}


def body_size(request):
    return {'size': len(request.body), 'sha': __import__('hashlib').sha256(request.body).hexdigest()}


def just_json(request):
    return {'json': request.json}


def http_error(request):
    raise rhc.HTTPError(418, 'short and stout')


def http_error_no_message(request):
    raise rhc.HTTPError(409)


def boom(request):
    raise RuntimeError('kaboom')


def typed(request, *args, **kwargs):
    """Echo the positional and keyword arguments with their type names."""
    return {'args': list(args), 'types': [type(a).__name__ for a in args],
            'kwargs': kwargs, 'kwtypes': {k: type(v).__name__ for k, v in kwargs.items()}}


def slug(value):
    """A dotted-path ARG/CONTENT type: lower-case letters and dashes only."""
    if not value or not all(c.islower() or c == '-' for c in value):
        raise ValueError('expected a slug')
    return f'slug:{value}'


def allow_token(request):
    return request.headers.get('x-token') == 'secret'


def allow_admin(request):
    return request.headers.get('x-token') == 'admin'


def deny(request):
    return False


# -- the client tests (tests/test_client_*.py) --------------------------------


def inspect(request):
    """Everything the client sent, as the server saw it."""
    try:
        document = _json.loads(request.body) if request.body else None
    except ValueError:
        document = None
    return {'method': request.method, 'path': request.path, 'query': request.query,
            'headers': dict(request.headers), 'json': document, 'form': request.form,
            'text': request.text, 'content_type': request.headers.get('content-type')}


def text(request):
    return 'plain words'


def empty(request):
    return None


def teapot(request):
    return 418, {'error': 'short and stout'}


def thing(request, name):
    return {'thing': name}


def relay(request, name):
    request.call(rhc.micro.connection.other.thing, args=name)


def relay_on_success(request, name):
    request.call(rhc.micro.connection.other.thing, args=[name],
                 on_success=lambda req, result: {'wrapped': result})


def relay_on_success_code(request, name):
    request.call(rhc.micro.connection.other.thing, args=(name,), on_success_code=201)


def relay_none_404(request):
    request.call(rhc.micro.connection.other.empty, on_none_404=True)


def relay_on_error(request, name):
    request.call(rhc.micro.connection.other.thing, args=[name],
                 on_error=lambda req, error: req.respond(502, {'upstream': str(error)}))


def header_token():
    return 'token-from-code'


UPSTREAM_URL = []


def upstream_url():
    return UPSTREAM_URL[-1]


def wrap_result(result):
    return {'wrapped': result}


def status_only(response):
    return response.status


def add_query(path, headers, body):
    headers = dict(headers, **{'X-Setup': 'yes'})
    return path + '?from=setup', headers, body


def check_connection_ready(config):
    """SETUP: the micro connections are there before serving starts."""
    assert hasattr(rhc.micro.connection, 'upstream'), 'no rhc.micro.connection.upstream'
    with open(config.marker, 'w') as f:
        f.write('connections ready')


def ret_wrong_length(request):
    return 200, 'twelve bytes', {'Content-Length': '999'}


def ret_smuggled_header(request):
    return 200, 'x', {'X-Evil': 'a\r\nSet-Cookie: stolen=1'}


def big(request):
    """`?n=BYTES` of a repeating pattern, to make the server write in pieces."""
    n = int(request.query.get('n', 1 << 20))
    return (b'0123456789abcdef' * (n // 16 + 1))[:n]


# -- tests/test_attacks.py, test_load.py, test_conformance.py -----------------------

def attack_header_injection(request):
    return 200, 'x', {'X-Bad': 'a\r\nSet-Cookie: evil=1'}


def attack_bare_lf_header(request):
    return 200, 'x', {'X-Bad': 'a\nSet-Cookie: evil=1'}


def attack_bare_cr_header(request):
    return 200, 'x', {'X-Bad': 'a\rSet-Cookie: evil=1'}


def attack_nul_header(request):
    return 200, 'x', {'X-Bad': 'a\x00b'}


def attack_header_name_injection(request):
    return 200, 'x', {'X-Bad: a\r\nSet-Cookie': 'evil=1'}


def attack_non_latin1_header(request):
    return 200, 'x', {'X-Bad': 'snow \u2603'}


def attack_reason_injection(request):
    request.respond(200, 'x', message='OK\r\nSet-Cookie: evil=1')


def attack_content_type_injection(request):
    request.respond(200, 'x', content_type='text/plain\r\nSet-Cookie: evil=1')


def attack_status_304_with_body(request):
    return 304, 'a body that must not be sent'


def attack_status_204_with_body(request):
    return 204, {'must': 'not be sent'}


def attack_delayed_then_error(request):
    """Delayed, then a handler-made CR/LF header from the timer."""
    request.delay()
    rhc.timer.add(lambda: request.respond(200, 'x', {'X-Bad': 'a\r\nSet-Cookie: evil=1'}),
                  10).start()


def attack_pid(request):
    return {'pid': _os.getpid()}


def auth_forbidden(request):
    raise rhc.HTTPError(403, 'forbidden')


def auth_broken(request):
    raise KeyError('no such session')


def ret_unserializable(request):
    return {'a': {1, 2}}


def ret_four_tuple(request):
    return 200, 'a', {}, 'extra'


def ret_string_status(request):
    return '200', 'text'


def ret_huge_status(request):
    return 12345, 'text'


def ret_bad_headers(request):
    return 200, 'x', 'not headers'


def delayed_unserializable(request):
    request.delay()
    rhc.timer.add(lambda: request.respond(200, {'a': object()}), 10).start()


def relay_missing(request):
    request.call(rhc.micro.connection.other.missing)


def _later(callback, rc, result, ms=20):
    rhc.timer.add(lambda: callback(rc, result), ms).start()


def via_call(request):
    """`request.call` with an async callable answering from a timer; `?outcome=ok|error|none`."""
    outcome = request.query.get('outcome', 'ok')
    rc, result = {'ok': (0, {'called': True}), 'error': (1, 'backend down'),
                  'none': (0, None)}[outcome]
    request.call(_later, args=(rc, result), on_none_404=True)


def not_json(request):
    """Labelled JSON, but it is not."""
    return 200, 'not json {', {'Content-Type': 'application/json'}


# -- tests/test_hardening.py, tests/test_migration.py ---------------------------


def path_arg(request, rest):
    """What a route group received, and the path it came from."""
    return {'rest': rest, 'path': request.path}


def never(request):
    """Delayed, and never answered: a request that stays in flight."""
    request.delay()


def teardown_marker():
    """TEARDOWN: leave a file where the test said (env TEARDOWN_FILE)."""
    where = _os.environ.get('TEARDOWN_FILE')
    if where:
        with open(where, 'w') as f:
            f.write('done')


def respond_positional(request):
    """`request.respond(result)` with one positional argument: `?kind=` picks it."""
    kind = request.query.get('kind')
    result = {'dict': {'a': 1}, 'list': [1, 2], 'str': 'text', 'int': 404,
              'pair': (201, {'made': True}), 'triple': (202, 'queued', {'X-Queue': '7'}),
              'none': None, 'bytes': b'\x00\xff', 'four': (1, 2, 3, 4)}[kind]
    request.respond(result)


def random_bytes(request):
    """`?size=N` random bytes, seeded by the size, as application/octet-stream."""
    import random
    size = int(request.query.get('size', 1024))
    return random.Random(size).randbytes(size)


# -- READY checks (tests/test_probes.py) ---------------------------------------

READY_CHECK = {'outcome': True}     # what ready_check returns; an exception is raised


def ready_check():
    outcome = READY_CHECK['outcome']
    if isinstance(outcome, Exception):
        raise outcome
    return outcome


async def async_ready_check():
    return True
