"""Running one endpoint for one request: auth, coercion, the handler, its answer.

Every outcome ends in `request.respond`, now or (for a delayed handler)
later; nothing a handler raises escapes this module. A plain handler runs
inline. A coroutine handler (or AUTH check) runs its first step inline too,
in a context of its own; only if it awaits does it become a task on the
loop, which the connection cancels if the client goes away.
"""
import contextvars
import inspect

from rhc.coroutine import Task, explained
from rhc.errors import HTTPError
from rhc.request import to_response
from rhc.tracecontext import current

FORM = 'application/x-www-form-urlencoded'


def authorized(request, endpoint):
    """Run the endpoint's AUTH check; False once the refusal is answered."""
    if endpoint.auth is None:
        return True
    try:
        if endpoint.auth(request):
            return True
        request.respond(401, {'error': 'unauthorized'})
    except HTTPError as e:
        request.respond(e.status, e.document())
    except Exception:
        request.fail('AUTH %s failed' % endpoint.path)
    return False


def run_endpoint(request, endpoint, route, groups, check_auth=True):
    if endpoint.is_async:
        return run_coroutine(request, serve(request, endpoint, route, groups, check_auth))
    if check_auth and endpoint.auth is not None and not authorized(request, endpoint):
        return
    try:
        args = route.coerce_args(groups) if groups else ()
        if endpoint.fields:
            result = endpoint.handler(request, *args, **gather_fields(request, endpoint.fields))
        else:
            result = endpoint.handler(request, *args)
        if request.is_responded or request.is_delayed:
            return
        status, content, headers = to_response(result)
    except HTTPError as e:
        request.respond(e.status, e.document())
        return
    except Exception:
        request.fail('handler %s failed' % endpoint.path)
        return
    request.respond(status, content, headers)


async def serve(request, endpoint, route, groups, check_auth=True):
    """The whole of a request for a coroutine handler (or AUTH check): it answers itself."""
    if check_auth and endpoint.auth is not None:
        try:
            allowed = endpoint.auth(request)
            if inspect.isawaitable(allowed):
                allowed = await allowed
        except HTTPError as e:
            return request.respond(e.status, e.document())
        except Exception:
            return request.fail('AUTH %s failed' % endpoint.path)
        if not allowed:
            return request.respond(401, {'error': 'unauthorized'})
    try:
        args = route.coerce_args(groups) if groups else ()
        if endpoint.fields:
            result = endpoint.handler(request, *args, **gather_fields(request, endpoint.fields))
        else:
            result = endpoint.handler(request, *args)
        if inspect.isawaitable(result):
            result = await result
        if request.is_responded or request.is_delayed:
            return
        status, content, headers = to_response(result)
    except HTTPError as e:
        return request.respond(e.status, e.document())
    except Exception as e:
        return request.fail('handler %s failed' % endpoint.path, explained(e))
    request.respond(status, content, headers)


def run_coroutine(request, coro):
    """Run `coro` for `request`: its first step now, the rest (if any) as a task.

    Each request's coroutine has its own `contextvars` context, so a
    variable one sets never shows in another. `rhc.Cancelled` raised at an
    await (the client went away) ends it with nothing sent.
    """
    context = contextvars.copy_context()
    context.run(current.set, request)
    try:
        yielded = context.run(coro.send, None)
    except StopIteration:
        return
    request.task = Task.adopt(coro, context, yielded)


def _sources(request):
    """Where CONTENT values come from, in order: JSON object, query, form."""
    sources = []
    is_form = request.headers.get('content-type', '').startswith(FORM)
    if request.body and not is_form:
        document = request.json
        if not isinstance(document, dict):
            raise HTTPError(400, 'the JSON body must be an object')
        sources.append(document)
    if request.query_string:
        sources.append(request.query)
    if request.body and is_form:
        sources.append(request.form)
    return sources


def gather_fields(request, fields):
    """The handler's keyword arguments; HTTPError 400 naming the field on failure."""
    sources = _sources(request)
    kwargs = {}
    for field in fields:
        name = field.name
        for source in sources:
            if name in source:
                value = source[name]
                if field.coerce is not None:
                    try:
                        value = field.coerce(value)
                    except ValueError as e:
                        raise HTTPError(400, f'{name}: {e}', field=name) from None
                kwargs[name] = value
                break
        else:
            if field.is_required:
                raise HTTPError(400, f'missing required field: {name}', field=name)
            if field.default is not None:
                kwargs[name] = field.default
    return kwargs
