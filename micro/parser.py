"""Read micro sources into a `model.Service`.

The grammar table says what each directive takes and what it attaches to;
this module keeps the most recent object of each kind (`Parser.last`) and, in
`BUILD`, says what each directive does to the model.

IMPORT splices the imported source in at that point, as if its lines were
written there: it sees the includer's open SERVER, ROUTE, CONNECTION … and
whatever it opens stays open after it. So a file of ROUTEs can be imported
under a SERVER, and a file of CONNECTIONs anywhere.
"""
import functools
import re

from . import grammar, model, sources
from .errors import Where, error
from .lexer import lex

MAX_IMPORT_DEPTH = 32  # IMPORTs nested deeper than this are surely a mistake


def parse(source, files=None):
    """The model.Service that `source` describes.

    `source` is a list of lines, text containing a newline, a file path, or a
    dotted path `pkg.name` to `name.micro` in importable package `pkg`. Any
    problem raises MicroError naming the source and line.

    `files`, if given, is a list that gets the real path of every file read,
    the top one first, even when parsing then fails: what a reloader watches.
    """
    top = sources.top(source)
    parser = Parser(top.name, files)
    parser.feed(top)
    parser.finish()
    return parser.service


class Parser:
    """Directives fed in order build one Service."""

    def __init__(self, name, files=None):
        self.service = model.Service(source=name)
        self.files = [] if files is None else files  # real paths of the files fed
        self.last = dict.fromkeys(grammar.KINDS)  # kind -> open object or None
        self.stack = []       # Sources being read, outermost first
        self.enum_uses = []   # (enum name, Where), checked once every ENUM is known
        self.authed = set()   # ids of servers and methods that have had an AUTH

    def feed(self, source):
        if source.key is not None:
            self.files.append(source.key)
        self.stack.append(source)
        for number, text in enumerate(source.lines, 1):
            where = Where(source.name, number)
            if not isinstance(text, str):
                raise error(where, f'expected a line of text, not {type(text).__name__}')
            tokens = lex(text, where)
            if tokens:
                self.directive(tokens, where)
        self.stack.pop()

    def directive(self, tokens, where):
        directive, values = grammar.bind(tokens, where)
        node = BUILD[directive.name](self, self.parent(directive, where), values, where)
        if directive.opens:
            self.last[directive.opens] = node
            for kind in grammar.CLOSES.get(directive.opens, ()):
                self.last[kind] = None

    def parent(self, directive, where):
        """The open object `directive` attaches to (None at top level)."""
        for kind in directive.parents:
            if self.last[kind] is not None:
                return self.last[kind]
        if directive.parents:
            kind = directive.parents[-1]
            raise error(where, f'{directive.name} before any {grammar.SPOKEN.get(kind, kind)}')
        return None

    def use_enum(self, name, where):
        if name is not None:
            self.enum_uses.append((name, where))

    def finish(self):
        """Checks that need the whole service: enums may be used before defined."""
        for name, where in self.enum_uses:
            if name not in self.service.enums:
                raise error(where, f"unknown enum '{name}'")


# Builders: (parser, parent, values, where) -> the new node, or None.

def _import(parser, _, values, where):
    given = values['source']
    try:
        source = sources.imported(given, parser.stack[-1].directory)
    except LookupError:
        raise error(where, f"IMPORT cannot open '{given}'") from None
    if len(parser.stack) > MAX_IMPORT_DEPTH:
        raise error(where, f'IMPORT nested deeper than {MAX_IMPORT_DEPTH}')
    keys = [outer.key for outer in parser.stack]
    if source.key in keys:
        chain = [outer.name for outer in parser.stack[keys.index(source.key):]]
        raise error(where, 'IMPORT cycle: ' + ' -> '.join(chain + [source.name]))
    parser.feed(source)


def _server(parser, _, values, where):
    servers = parser.service.servers
    _unique(servers, values['name'], where, 'server')
    for other in servers.values():
        if values['port'] and other.port == values['port']:
            raise error(where, f"duplicate server port {values['port']} (first at {other.where})")
    node = servers[values['name']] = model.Server(**values, **where.fields())
    return node


def _openapi(parser, server, values, where):
    if server.openapi is not None:
        raise error(where, f'duplicate OPENAPI (first at {server.openapi.where})')
    if values['docs'] == values['path']:
        raise error(where, f"OPENAPI docs is the document's own path: '{values['path']}'")
    title = values['title'] or server.name
    server.openapi = model.OpenAPI(**{**values, 'title': title}, **where.fields())


def _metrics(parser, server, values, where):
    if server.metrics is not None:
        raise error(where, f'duplicate METRICS (first at {server.metrics.where})')
    server.metrics = model.Metrics(**values, **where.fields())


def _route(parser, server, values, where):
    pattern = values['pattern']
    try:
        regex = re.compile(route_regex(pattern))
    except (re.error, RecursionError, OverflowError) as exc:
        raise error(where, f"invalid regex '{pattern}': {exc}") from None
    node = model.Route(pattern, regex, **where.fields())
    server.routes.append(node)
    return node


def route_regex(pattern):
    """The regex a ROUTE pattern stands for: a trailing `$` is the true end.

    In a Python regex `$` also matches before a final newline, so `/admin$`
    would take `/admin\\n`; `\\Z` matches only at the very end.
    """
    if not pattern.endswith('$'):
        return pattern
    body = pattern[:-1]
    escapes = len(body) - len(body.rstrip('\\'))
    return pattern if escapes % 2 else body + r'\Z'


def _arg(parser, route, values, where):
    if len(route.args) >= route.regex.groups:
        raise error(where, f"ARG with no group left in ROUTE '{route.pattern}'")
    parser.use_enum(values['enum'], where)
    route.args.append(model.Arg(**values, **where.fields()))


def _silent(parser, route, values, where):
    route.silent = values['flag']


def _method(verb, parser, route, values, where):
    if verb in route.methods:
        raise error(where, f"duplicate {verb} on ROUTE '{route.pattern}'")
    node = route.methods[verb] = model.Method(verb, values['handler'], **where.fields())
    return node


def _content(parser, method, values, where):
    if any(content.name == values['name'] for content in method.contents):
        raise error(where, f"duplicate content '{values['name']}'")
    parser.use_enum(values['enum'], where)
    method.contents.append(model.Content(**values, **where.fields()))


def _auth(parser, target, values, where):
    if isinstance(target, model.Route):
        raise error(where, f"AUTH after ROUTE '{target.pattern}' with no method")
    if id(target) in parser.authed:
        raise error(where, 'duplicate AUTH')
    parser.authed.add(id(target))
    handler = values['handler']
    # On a server, 'none' is simply no server-wide check.
    target.auth = None if handler == 'none' and isinstance(target, model.Server) else handler


def _enum(parser, _, values, where):
    if values['to_upper'] and values['to_lower']:
        raise error(where, 'to_upper and to_lower are exclusive')
    _unique(parser.service.enums, values['name'], where, 'enum')
    parser.service.enums[values['name']] = model.Enum(**values, **where.fields())


def _connection(parser, _, values, where):
    _unique(parser.service.connections, values['name'], where, 'connection')
    node = parser.service.connections[values['name']] = model.Connection(**values, **where.fields())
    return node


def _resource(parser, connection, values, where):
    name = values['name']
    if name in connection.resources:
        raise error(where, f"duplicate resource '{name}' in connection '{connection.name}'")
    node = connection.resources[name] = model.Resource(**values, **where.fields())
    return node


def _header(parser, target, values, where):
    if all(values[key] is None for key in ('default', 'config', 'code')):
        raise error(where, 'HEADER needs one of default, config or code')
    target.headers.append(model.Header(**values, **where.fields()))


def _required(parser, resource, values, where):
    _new_argument(resource, values['name'], where)
    resource.required.append(model.Required(**values, **where.fields()))


def _optional(parser, resource, values, where):
    _new_argument(resource, values['name'], where)
    _check_default(values, where)
    resource.optional.append(model.Optional(**values, **where.fields()))


def _config(parser, _, values, where):
    _unique(parser.service.configs, values['name'], where, 'config')
    _check_default(values, where)
    parser.service.configs[values['name']] = model.Config(**values, **where.fields())


def _setup(parser, _, values, where):
    parser.service.setups.append(model.Setup(**values, **where.fields()))


def _teardown(parser, _, values, where):
    parser.service.teardowns.append(model.Teardown(**values, **where.fields()))


def _unique(mapping, name, where, what):
    if name in mapping:
        raise error(where, f"duplicate {what} '{name}'")


def _new_argument(resource, name, where):
    if any(arg.name == name for arg in resource.required + resource.optional):
        raise error(where, f"duplicate argument '{name}' in resource '{resource.name}'")


def _check_default(values, where):
    """A default must pass its builtin `validate`; dotted paths run later."""
    check = grammar.CHECK_DEFAULT.get(values['validate'])
    if check and values['default'] is not None:
        try:
            check(values['default'], 'default')
        except ValueError as exc:
            raise error(where, str(exc)) from None


BUILD = {
    'IMPORT': _import, 'SERVER': _server, 'OPENAPI': _openapi, 'METRICS': _metrics,
    'ROUTE': _route,
    'ARG': _arg, 'SILENT': _silent, 'CONTENT': _content, 'AUTH': _auth,
    'ENUM': _enum, 'CONNECTION': _connection, 'RESOURCE': _resource, 'HEADER': _header,
    'REQUIRED': _required, 'OPTIONAL': _optional, 'CONFIG': _config,
    'SETUP': _setup, 'TEARDOWN': _teardown,
    **{verb: functools.partial(_method, verb) for verb in grammar.VERBS},
}
