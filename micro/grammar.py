"""The micro grammar as data: each directive's parameters and its parent.

`DIRECTIVES` is the whole language on one screen. A row names the directive,
the kinds of object it attaches to (the most recent of the first kind that
exists wins; empty means top level), the kind of object it opens for later
directives, and its parameters in positional order. `bind` turns one lexed
line into converted parameter values using that table; what a directive then
does with them lives in the parser.
"""
import re
from typing import Callable, NamedTuple

from .errors import error


class _Marker:
    def __init__(self, name):
        self.name = name

    def __repr__(self):
        return self.name


REQUIRED = _Marker('REQUIRED')  # no default: the parameter must be given
MANY = _Marker('MANY')          # takes the remaining positionals (at least one),
                                # so the parameters after it are keyword-only

VERBS = ('GET', 'POST', 'PUT', 'PATCH', 'DELETE')
HTTP_METHODS = VERBS + ('HEAD', 'OPTIONS')
TYPES = ('int', 'float', 'count', 'bool')              # ARG and CONTENT type
VALIDATIONS = ('int', 'float', 'bool', 'file')         # CONFIG and OPTIONAL validate
BOOLEANS = {'true': True, 'yes': True, '1': True, 'false': False, 'no': False, '0': False}
DOTTED = re.compile(r'[A-Za-z_]\w*(\.[A-Za-z_]\w*)+')
MAX_PORT = 65535


# Converters take the value as written and the parameter's name, and return
# the Python value or raise ValueError with the message the user will see.

def text(value, name):
    return value


def integer(value, name):
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"{name} must be an integer: '{value}'") from None


def number(value, name):
    try:
        return float(value)
    except ValueError:
        raise ValueError(f"{name} must be a number: '{value}'") from None


def boolean(value, name):
    try:
        return BOOLEANS[value.lower()]
    except KeyError:
        raise ValueError(f"bad boolean for {name}: '{value}'") from None


def port(value, name):
    result = integer(value, name)
    if not 0 <= result <= MAX_PORT:
        raise ValueError(f'{name} out of range: {result}')
    return result


def dotted(value, name):
    if not DOTTED.fullmatch(value):
        raise ValueError(f"{name} must be a dotted path: '{value}'")
    return value


def auth(value, name):
    return 'none' if value.lower() == 'none' else dotted(value, name)


def url_path(value, name):
    """An exact request path the framework answers itself (OPENAPI, its docs)."""
    if not value.startswith('/'):
        raise ValueError(f"{name} must start with '/': '{value}'")
    if '?' in value:
        raise ValueError(f"{name} must not hold a query string: '{value}'")
    return value


def optional_path(value, name):
    return None if value.lower() == 'none' else url_path(value, name)


def kind(value, name):
    if value not in TYPES and not DOTTED.fullmatch(value):
        raise ValueError(f"unknown type '{value}'")
    return value


def validation(value, name):
    if value not in VALIDATIONS and not DOTTED.fullmatch(value):
        raise ValueError(f"unknown validate '{value}'")
    return value


def verb(value, name):
    if value.upper() not in HTTP_METHODS:
        raise ValueError(f"unknown method '{value}'")
    return value.upper()


# Each builtin validation, as the converter that checks a default against it.
CHECK_DEFAULT = {'int': integer, 'float': number, 'bool': boolean}


class Param(NamedTuple):
    name: str
    convert: Callable = text
    default: object = REQUIRED


class Directive(NamedTuple):
    name: str
    parents: tuple          # kinds it attaches to, most specific first; () = top level
    opens: str | None       # kind of the object later directives attach to
    params: tuple


def D(name, parents, opens, *params):
    return Directive(name, parents, opens, params)


def need(name, convert=text):
    return Param(name, convert, REQUIRED)


def opt(name, convert=text, default=None):
    return Param(name, convert, default)


def many(name):
    return Param(name, text, MANY)


TOP = ()
B = boolean

DIRECTIVES = {d.name: d for d in [
    # directive    attaches to            opens         parameters, in positional order
    D('IMPORT',    TOP,                   None,         need('source')),
    D('SERVER',    TOP,                   'SERVER',     need('name'), need('port', port)),
    D('OPENAPI',   ('SERVER',),           None,         need('path', url_path), opt('title'),
                                                        opt('version', text, '0.1.0'),
                                                        opt('docs', optional_path)),
    D('METRICS',   ('SERVER',),           None,         need('path', url_path)),
    D('ROUTE',     ('SERVER',),           'ROUTE',      need('pattern')),
    D('ARG',       ('ROUTE',),            None,         opt('type', kind), opt('enum')),
    D('SILENT',    ('ROUTE',),            None,         opt('flag', B, True)),
    *[D(verb,      ('ROUTE',),            'METHOD',     need('handler', dotted)) for verb in VERBS],
    D('CONTENT',   ('METHOD',),           None,         need('name'), opt('type', kind), opt('enum'),
                                                        opt('is_required', B, True), opt('default')),
    D('AUTH',      ('METHOD', 'ROUTE', 'SERVER'), None, need('handler', auth)),
    D('ENUM',      TOP,                   None,         need('name'), many('items'),
                                                        opt('to_upper', B, False), opt('to_lower', B, False)),
    D('CONNECTION', TOP,                  'CONNECTION', need('name'), opt('url'), opt('is_json', B, True),
                                                        opt('is_form', B, False), opt('timeout', number, 5.0),
                                                        opt('is_verbose', B, True), opt('handler', dotted),
                                                        opt('wrapper', dotted), opt('setup', dotted),
                                                        opt('code', dotted)),
    D('HEADER',    ('RESOURCE', 'CONNECTION'), None,    need('key'), opt('default'), opt('config'),
                                                        opt('code', dotted)),
    D('RESOURCE',  ('CONNECTION',),       'RESOURCE',   need('name'), need('path'), opt('method', verb, 'GET'),
                                                        opt('is_json', B), opt('timeout', number),
                                                        opt('trace', B, False), opt('is_form', B),
                                                        opt('handler', dotted), opt('wrapper', dotted),
                                                        opt('setup', dotted)),
    D('REQUIRED',  ('RESOURCE',),         None,         need('name')),
    D('OPTIONAL',  ('RESOURCE',),         None,         need('name'), opt('default'), opt('config'),
                                                        opt('validate', validation)),
    D('CONFIG',    TOP,                   None,         need('name'), opt('default'),
                                                        opt('validate', validation), opt('env')),
    D('SETUP',     TOP,                   None,         need('handler', dotted)),
    D('TEARDOWN',  TOP,                   None,         need('handler', dotted)),
]}

# Opening an object closes the ones nested in it: a new SERVER ends the last
# ROUTE and method, so a GET after it cannot reach back into the old server.
CLOSES = {'SERVER': ('ROUTE', 'METHOD'), 'ROUTE': ('METHOD',), 'CONNECTION': ('RESOURCE',)}
KINDS = ('SERVER', 'ROUTE', 'METHOD', 'CONNECTION', 'RESOURCE')
SPOKEN = {'METHOD': 'method'}   # how a kind reads in "X before any <kind>"


def bind(tokens, where):
    """(Directive, {parameter: converted value}) for one lexed line."""
    directive = DIRECTIVES.get(tokens.directive.upper())
    if directive is None:
        raise error(where, f"unknown directive '{tokens.directive}'")
    raw = _fill(directive, tokens, where)
    values = {}
    for param in directive.params:
        if param.name in raw:
            values[param.name] = _convert(param, raw[param.name], where)
        elif param.default in (REQUIRED, MANY):
            raise error(where, f"missing parameter '{param.name}' for {directive.name}")
        else:
            values[param.name] = param.default
    return directive, values


def _fill(directive, tokens, where):
    """{parameter: value as written}: positionals in order, then keywords."""
    raw, positional = {}, list(tokens.positional)
    for param in directive.params:
        if not positional:
            break
        if param.default is MANY:
            raw[param.name], positional = positional, []
        else:
            raw[param.name] = positional.pop(0)
    if positional:
        raise error(where, f'too many parameters for {directive.name}')
    names = {param.name: param for param in directive.params}
    for key, value in tokens.keyword:
        if key not in names:
            raise error(where, f"unknown parameter '{key}' for {directive.name}")
        if key in raw:
            raise error(where, f"duplicate parameter '{key}'")
        raw[key] = [value] if names[key].default is MANY else value
    return raw


def _convert(param, value, where):
    try:
        if param.default is MANY:
            return [param.convert(item, param.name) for item in value]
        return param.convert(value, param.name)
    except ValueError as exc:
        raise error(where, str(exc)) from None
