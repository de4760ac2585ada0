"""Route tables compiled from the micro model, and request matching.

Everything a request needs is resolved once at load time: handlers and
validators imported, coercions built, `Allow` headers joined. Matching has
three outcomes, as in starlette: no route (404), a route for the path but
not the method (405 with `Allow`), or a full match.

Besides the user's ROUTEs a router holds *built-in* routes: exact paths the
framework itself answers (the OpenAPI document and its docs page; probes and
metrics use the same door). They are matched first, skip AUTH, take no
arguments, and their handler is an ordinary `handler(request) -> content`,
so the normal dispatch serves them.
"""
import re

import inspect

from micro import MicroError

from rhc.config import to_bool
from rhc.errors import HTTPError
from rhc.importer import resolve

METHOD_NOT_ALLOWED = object()
# A built-in's `silent=ALWAYS`: no access log line even for an error status (a
# READY probe's 503 is news for the balancer asking every 100 ms, not for the log).
ALWAYS = 'always'


# "7.0" is the integer 7, as the JSON number 7.0 is: what a form or query
# holds when a client wrote an integer-valued number (pydantic agrees).
_ZERO_FRACTION = re.compile(r'\s*([+-]?\d+)\.0*\s*')


def _to_int(value):
    if type(value) is str:      # the common case: a path group or a query value
        try:
            return int(value)
        except ValueError:
            whole = _ZERO_FRACTION.fullmatch(value)
            if whole is not None and len(whole.group(1)) < 4300:   # int()'s own digit limit
                return int(whole.group(1))
            raise ValueError('expected an integer') from None
    if isinstance(value, bool):
        raise ValueError('expected an integer')
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if value.is_integer():
            return int(value)
        raise ValueError('expected an integer')
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ValueError('expected an integer') from None


def _to_float(value):
    if isinstance(value, bool):
        raise ValueError('expected a number')
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ValueError('expected a number') from None


def _to_count(value):
    number = _to_int(value)
    if number < 1:
        raise ValueError('expected an integer >= 1')
    return number


def _to_bool(value):
    try:
        return to_bool(value)
    except ValueError:
        raise ValueError('expected a boolean') from None


TYPES = {'int': _to_int, 'float': _to_float, 'count': _to_count, 'bool': _to_bool}


def build_coercer(type_name, enum_name, enums, node):
    """A function value -> coerced value that raises ValueError with a reason."""
    steps = []
    if enum_name is not None:
        enum = enums[enum_name]
        items = frozenset(enum.items)
        listing = ', '.join(enum.items)
        fold = str.upper if enum.to_upper else str.lower if enum.to_lower else None

        def check_enum(value):
            if not isinstance(value, str):
                raise ValueError(f'must be one of: {listing}')
            if fold is not None:
                value = fold(value)
            if value not in items:
                raise ValueError(f'must be one of: {listing}')
            return value
        steps.append(check_enum)
    if type_name is not None:
        steps.append(TYPES.get(type_name) or resolve(type_name, node))
    if not steps:
        return None
    if len(steps) == 1:
        return steps[0]

    def chain(value):
        for step in steps:
            value = step(value)
        return value
    return chain


class Field:
    """A CONTENT parameter: where it comes from and how it is checked."""
    __slots__ = ('name', 'coerce', 'is_required', 'default')

    def __init__(self, content, enums):
        self.name = content.name
        self.coerce = build_coercer(content.type, content.enum, enums, content)
        self.is_required = content.is_required and content.default is None
        self.default = None
        if content.default is not None:
            try:
                self.default = self.coerce(content.default) if self.coerce else content.default
            except ValueError as e:
                raise MicroError(content.source, content.line,
                                 f"bad default {content.default!r} for {content.name}: {e}") from None


def is_async(fn):
    """True for an `async def` function (or a partial of one, or an object whose
    `__call__` is one): decided once, at load time, so plain ones stay plain."""
    return fn is not None and (inspect.iscoroutinefunction(fn)
                               or inspect.iscoroutinefunction(getattr(fn, '__call__', None)))


class Endpoint:
    """One method of one route: the handler and what it takes."""
    __slots__ = ('verb', 'path', 'handler', 'fields', 'auth', 'silent', 'is_async')

    def __init__(self, method, route, server_auth, enums):
        self.verb = method.verb
        self.path = method.handler
        self.handler = resolve(method.handler, method)
        if not callable(self.handler):
            raise MicroError(method.source, method.line, f"'{method.handler}' is not callable")
        self.fields = [Field(content, enums) for content in method.contents]
        auth = server_auth if method.auth is None else method.auth
        self.auth = None if auth in (None, 'none') else resolve(auth, method)
        self.silent = route.silent
        self.is_async = is_async(self.handler) or is_async(self.auth)


class Route:
    __slots__ = ('pattern', 'match', 'args', 'endpoints', 'allow')

    def __init__(self, route, server_auth, enums):
        self.pattern = route.pattern
        self.match = route.regex.match
        names = {index: name for name, index in route.regex.groupindex.items()}
        # (position, field name, coercion) for the groups that have an ARG with one
        self.args = []
        for position, arg in enumerate(route.args):
            coerce = build_coercer(arg.type, arg.enum, enums, arg)
            if coerce is not None:
                self.args.append((position, names.get(position + 1, f'arg{position + 1}'), coerce))
        self.endpoints = {verb: Endpoint(method, route, server_auth, enums)
                          for verb, method in route.methods.items()}
        if 'GET' in self.endpoints:
            self.endpoints.setdefault('HEAD', self.endpoints['GET'])
        self.allow = set(self.endpoints)

    def coerce_args(self, groups):
        """The handler's positional arguments: the groups, coerced as their ARGs say."""
        if not self.args:
            return groups
        values = list(groups)
        for position, name, coerce in self.args:
            value = values[position]
            if value is not None:       # an optional group that did not match stays None
                try:
                    values[position] = coerce(value)
                except ValueError as e:
                    raise HTTPError(400, f'{name}: {e}', field=name) from None
        return values


class BuiltinEndpoint:
    """What dispatch needs of an endpoint, for a handler the framework provides."""
    __slots__ = ('verb', 'path', 'handler', 'fields', 'auth', 'silent', 'is_async')

    def __init__(self, verb, name, handler, silent):
        self.verb = verb
        self.path = name            # how logs name the handler
        self.handler = handler
        self.fields = ()
        self.auth = None
        self.silent = silent
        self.is_async = is_async(handler)


class BuiltinRoute:
    """One exact path the framework answers itself, for GET (and so HEAD) by default."""
    __slots__ = ('pattern', 'name', 'endpoints', 'allow')

    def __init__(self, path, handler, name, silent=False, methods=('GET',)):
        self.pattern = path
        self.name = name
        self.endpoints = {verb: BuiltinEndpoint(verb, name, handler, silent) for verb in methods}
        if 'GET' in self.endpoints:
            self.endpoints.setdefault('HEAD', self.endpoints['GET'])
        self.allow = ', '.join(sorted(self.endpoints))

    def coerce_args(self, groups):
        return groups


class Router:
    """The routes of one server: built-in paths first, then ROUTEs in file order."""

    def __init__(self, server, enums):
        self.routes = [Route(route, server.auth, enums) for route in server.routes]
        self.builtins = {}      # exact path -> BuiltinRoute

    def add_builtin(self, path, handler, name, silent=False, methods=('GET',)):
        """Answer `path` with `handler(request)` before any ROUTE; `name` says what it is.

        Returns the ROUTE patterns this path hides. A path already built in is a
        ValueError naming what serves it.
        """
        if path in self.builtins:
            raise ValueError(f"'{path}' is already served by {self.builtins[path].name}")
        self.builtins[path] = BuiltinRoute(path, handler, name, silent, methods)
        return [route.pattern for route in self.routes if route.match(path)]

    def match(self, method, path):
        """(endpoint, route, groups), or (METHOD_NOT_ALLOWED, allow, None), or None."""
        if self.builtins:
            builtin = self.builtins.get(path)
            if builtin is not None:
                endpoint = builtin.endpoints.get(method)
                if endpoint is None:
                    return METHOD_NOT_ALLOWED, builtin.allow, None
                return endpoint, builtin, ()
        allow = None
        for route in self.routes:
            m = route.match(path)
            if m is None:
                continue
            endpoint = route.endpoints.get(method)
            if endpoint is not None:
                return endpoint, route, m.groups()
            allow = route.allow if allow is None else allow | route.allow
        if allow is not None:
            return METHOD_NOT_ALLOWED, ', '.join(sorted(allow)), None
        return None

