"""The OpenAPI 3.1 document of one server, built from its micro model.

`document(server, enums, handlers)` walks the server's ROUTEs once and
returns a plain dict, ready for `json.dumps`: one path per ROUTE (see
`rhc.pathtemplate`), one operation per method, parameters and bodies from
ARG, CONTENT and ENUM, and the responses rhc itself produces. What is used
more than once (rhc's error bodies, its responses, each ENUM, each request
body) is a component, referred to with `$ref`.

Choices a reader of the document should know:

- HEAD is answered for every GET and is not listed; 404 and 405 are not
  listed. Handlers choose their own statuses and content, which rhc cannot
  know, so each operation has a 200 and a `default` response whose content
  may be anything, and a 204 without content (a 204 has no body, so the
  `default` would be wrong about it).
- A ROUTE whose regex says more than a template can (alternation, optional
  parts, a prefix match without `$` …) keeps its regex as `x-rhc-pattern` on
  each of its operations.
- Two ROUTEs with the same template share one path item when their path
  parameters agree and their methods differ. Otherwise the later ROUTE's
  operations are kept under the path item's `x-rhc-also` (a list of
  `{"x-rhc-pattern", "parameters", <method>: operation}`), since routing
  tries the earlier ROUTE first. Nothing is dropped.
- An ENUM with `to_upper`/`to_lower` lists the values that pass once folded
  (items already in that case) and says in its description and in
  `x-rhc-fold` that input of any case is folded first.
- An untyped CONTENT is a string in the query and in a form, but any JSON
  value in a JSON body: rhc hands it over unchecked, and the document says
  so (the form then has a schema of its own).
- A numeric path parameter whose group cannot match `-1` is given
  `minimum: 0` (1 if it cannot match `0` either): the type alone would
  promise negative numbers the route never matches.
"""
import functools
import inspect
import re
from collections import Counter

from rhc.pathtemplate import template
from rhc.routing import TYPES

OPENAPI_VERSION = '3.1.0'
BODY_VERBS = ('POST', 'PUT', 'PATCH')
JSON = 'application/json'
FORM = 'application/x-www-form-urlencoded'
COMPONENT_NAME = re.compile(r'[^A-Za-z0-9._-]')

TYPE_SCHEMAS = {
    'int': {'type': 'integer'},
    'float': {'type': 'number'},
    'count': {'type': 'integer', 'minimum': 1},
    'bool': {'type': 'boolean'},
}

# rhc's own error bodies and responses: (components section, name) -> value.
ERROR = {'type': 'object', 'properties': {'error': {'type': 'string'}}, 'required': ['error']}
BAD_REQUEST = {'type': 'object', 'required': ['error'], 'properties': {
    'error': {'type': 'string'},
    'field': {'type': 'string',
              'description': 'the CONTENT name, or the ARG group name (arg1, arg2 … unnamed)'}}}
SERVER_ERROR = {'type': 'object', 'required': ['error', 'id'], 'properties': {
    'error': {'type': 'string', 'const': 'internal server error'},
    'id': {'type': 'string', 'description': 'logged beside the traceback'}}}
ANYTHING = {'*/*': {'schema': {}}}
# An untyped CONTENT in a JSON body is handed over as it came: any JSON value.
UNCHECKED = {'description': 'not checked: any JSON value'}


def _json_response(description, schema):
    return {'description': description,
            'content': {JSON: {'schema': {'$ref': f'#/components/schemas/{schema}'}}}}


RHC_COMPONENTS = {
    ('schemas', 'rhc.Error'): ERROR,
    ('schemas', 'rhc.BadRequest'): BAD_REQUEST,
    ('schemas', 'rhc.ServerError'): SERVER_ERROR,
    ('responses', 'rhc.Handler'): {
        'description': "The handler's answer; rhc does not know its content.", 'content': ANYTHING},
    ('responses', 'rhc.NoContent'): {
        'description': 'When the handler answers 204: no content.'},
    ('responses', 'rhc.Other'): {
        'description': 'Any other status the handler chooses (rhc does not know them).',
        'content': ANYTHING},
    ('responses', 'rhc.BadRequest'): _json_response(
        'A path value, query value or body field failed its check, or the body is not '
        'a JSON object.',
        'rhc.BadRequest'),
    ('responses', 'rhc.Unauthorized'): _json_response('The AUTH check refused the request.',
                                                      'rhc.Error'),
    ('responses', 'rhc.ServerError'): _json_response(
        'The handler failed; the id is logged with the traceback.', 'rhc.ServerError'),
}


def document(server, enums, handlers=None, openapi=None):
    """The OpenAPI 3.1 document (a dict) of `server`, a micro `model.Server`.

    `enums` maps ENUM names to the model's Enums; `handlers` maps a method's
    dotted path to the resolved function, whose docstring gives the
    operation's summary and description. `openapi` (the model's OPENAPI node,
    default the server's own) gives the title and version.
    """
    return _Builder(server, enums, handlers or {}).build(openapi or server.openapi)


class _Builder:
    def __init__(self, server, enums, handlers):
        self.server = server
        self.enums = enums
        self.handlers = handlers
        self.components = {}            # (section, name) -> value, in order of first use
        self.enum_names = {}            # ENUM name -> component name
        self.ids = operation_ids(server)

    def build(self, openapi):
        title = openapi.title if openapi else self.server.name
        version = openapi.version if openapi else '0.1.0'
        paths = {}
        for route in self.server.routes:
            if route.methods:
                self.add_route(paths, route)
        doc = {'openapi': OPENAPI_VERSION, 'info': {'title': title, 'version': version},
               'paths': paths}
        if self.components:
            sections = {}
            for (section, name), value in self.components.items():
                sections.setdefault(section, {})[name] = value
            doc['components'] = {section: dict(sorted(values.items()))
                                 for section, values in sorted(sections.items())}
        return doc

    # -- paths ------------------------------------------------------------------

    def add_route(self, paths, route):
        shape = template(route.regex)
        parameters = [self.path_parameter(route, p) for p in shape.parameters]
        operations = {verb.lower(): self.operation(route, method, shape)
                      for verb, method in route.methods.items()}
        key = _same_template(paths, shape.path)
        if key is None:
            paths[shape.path] = {'parameters': parameters, **operations} if parameters \
                else operations
            return
        item = paths[key]
        if key == shape.path and item.get('parameters', []) == parameters \
                and not set(operations) & set(item):
            item.update(operations)
            return
        also = {'x-rhc-pattern': route.pattern, 'parameters': parameters, **operations}
        item.setdefault('x-rhc-also', []).append(also)

    def path_parameter(self, route, parameter):
        position = parameter.group - 1
        arg = route.args[position] if position < len(route.args) else None
        schema = self.value_schema(arg.type if arg else None, arg.enum if arg else None)
        if arg is not None and arg.type in ('int', 'float', 'count') and parameter.pattern:
            if not re.match(parameter.pattern, '-1'):
                floor = 0 if re.match(parameter.pattern, '0') else 1
                schema['minimum'] = max(schema.get('minimum', floor), floor)
        if parameter.pattern:
            schema['pattern'] = parameter.pattern
        return {'name': parameter.name, 'in': 'path', 'required': True, 'schema': schema}

    # -- operations -----------------------------------------------------------

    def operation(self, route, method, shape):
        op = {'operationId': self.ids[id(method)]}
        op.update(_docstring(self.handlers.get(method.handler)))
        if not shape.exact:
            op['x-rhc-pattern'] = route.pattern
        auth = self.server.auth if method.auth is None else method.auth
        if auth not in (None, 'none'):
            op['x-rhc-auth'] = auth
        if method.contents and method.verb in BODY_VERBS:
            op['requestBody'] = self.request_body(method, op['operationId'])
        elif method.contents:
            op['parameters'] = [self.query_parameter(content) for content in method.contents]
        responses = {'200': self.response('rhc.Handler'), '204': self.response('rhc.NoContent')}
        if shape.parameters or method.contents or method.verb in BODY_VERBS:
            responses['400'] = self.response('rhc.BadRequest')
        if auth not in (None, 'none'):
            responses['401'] = self.response('rhc.Unauthorized')
        responses['500'] = self.response('rhc.ServerError')
        responses['default'] = self.response('rhc.Other')
        op['responses'] = responses
        return op

    def query_parameter(self, content):
        parameter = {'name': content.name, 'in': 'query',
                     'required': content.is_required and content.default is None,
                     'schema': self.content_schema(content)}
        return parameter

    def request_body(self, method, operation_id):
        """JSON and form bodies; an untyped CONTENT is any JSON value but a string in a form."""
        required = [c.name for c in method.contents if c.is_required and c.default is None]
        schemas = {}
        for media, untyped in ((JSON, UNCHECKED), (FORM, {'type': 'string'})):
            properties = {c.name: self.content_schema(c, untyped) for c in method.contents}
            schemas[media] = {'type': 'object', 'properties': properties}
            if required:
                schemas[media]['required'] = required
        json_name = self.add_component('schemas', f'{operation_id}.body', schemas[JSON])
        form_name = json_name if schemas[FORM] == schemas[JSON] else \
            self.add_component('schemas', f'{operation_id}.form', schemas[FORM])
        return {'required': bool(required), 'content': {
            media: {'schema': {'$ref': f'#/components/schemas/{name}'}}
            for media, name in ((JSON, json_name), (FORM, form_name))}}

    def content_schema(self, content, untyped=None):
        if content.type is None and content.enum is None and untyped is not None:
            schema = dict(untyped)
        else:
            schema = self.value_schema(content.type, content.enum)
        if content.default is not None:
            schema['default'] = self.default_value(content)
        return schema

    def default_value(self, content):
        value = content.default
        if content.enum is not None:
            enum = self.enums[content.enum]
            value = value.upper() if enum.to_upper else value.lower() if enum.to_lower else value
        elif content.type in TYPES:
            value = TYPES[content.type](value)
        return value

    # -- schemas and components ---------------------------------------------------

    def value_schema(self, type_name, enum_name):
        """The schema of one ARG or CONTENT value (a fresh dict the caller may extend)."""
        if enum_name is not None:
            return {'$ref': f'#/components/schemas/{self.enum_component(enum_name)}'}
        if type_name in TYPE_SCHEMAS:
            return dict(TYPE_SCHEMAS[type_name])
        if type_name is not None:
            return {'type': 'string', 'description': f'checked by {type_name}'}
        return {'type': 'string'}

    def enum_component(self, enum_name):
        if enum_name not in self.enum_names:
            self.enum_names[enum_name] = self.add_component('schemas', enum_name,
                                                            enum_schema(self.enums[enum_name]))
        return self.enum_names[enum_name]

    def response(self, name):
        return self.rhc_ref('responses', name)

    def rhc_ref(self, section, name):
        """A $ref to one of rhc's own components, added (with those it refers to) on first use."""
        key = (section, name)
        if key not in self.components:
            self.components[key] = RHC_COMPONENTS[key]
            for ref in _refs(RHC_COMPONENTS[key]):
                self.rhc_ref(*ref.split('/')[2:])
        return {'$ref': f'#/components/{section}/{name}'}

    def add_component(self, section, wanted, value):
        """Store `value` under a free, valid name like `wanted`; return that name."""
        base = COMPONENT_NAME.sub('_', wanted) or '_'
        taken = {name for (where, name) in self.components if where == section}
        taken |= {name for (where, name) in RHC_COMPONENTS if where == section}
        name, n = base, 2
        while name in taken:
            name, n = f'{base}_{n}', n + 1
        self.components[(section, name)] = value
        return name


def enum_schema(enum):
    """A string enum of the values that pass the ENUM once folded."""
    fold = str.upper if enum.to_upper else str.lower if enum.to_lower else None
    if fold is None:
        return {'type': 'string', 'enum': list(enum.items)}
    accepted = [item for item in enum.items if fold(item) == item]
    case = 'upper' if enum.to_upper else 'lower'
    schema = {'type': 'string', 'enum': accepted} if accepted else {'not': {}}
    schema['description'] = (f'Case-insensitive: the value is folded to {case} case before it is '
                             'checked, so any case of these values is accepted.')
    schema['x-rhc-fold'] = case
    return schema


def operation_ids(server):
    """{id(method): operationId}: the handler's dotted path, `_verb` added where the
    handler serves several operations, `_2`, `_3` … where that is still not unique."""
    methods = [method for route in server.routes for method in route.methods.values()]
    uses = Counter(method.handler for method in methods)
    ids, taken = {}, set()
    for method in methods:
        base = method.handler
        if uses[method.handler] > 1:
            base += '_' + method.verb.lower()
        name, n = base, 2
        while name in taken:
            name, n = f'{base}_{n}', n + 1
        taken.add(name)
        ids[id(method)] = name
    return ids


def _docstring(handler):
    """{'summary', 'description'} from a handler's docstring (either may be absent)."""
    while isinstance(handler, functools.partial):
        handler = handler.func
    doc = inspect.getdoc(handler) if inspect.isroutine(handler) else None
    if not doc:
        return {}
    summary, _, rest = doc.partition('\n')
    out = {'summary': summary.strip()}
    if rest.strip():
        out['description'] = rest.strip()
    return out


def _refs(value):
    """Every `$ref` inside `value`."""
    if isinstance(value, dict):
        if '$ref' in value:
            yield value['$ref']
        for inner in value.values():
            yield from _refs(inner)


def _same_template(paths, path):
    """The key of `paths` that names the same URLs as `path` (parameter names aside)."""
    shape = re.sub(r'\{[^}]*\}', '{}', path)
    for key in paths:
        if re.sub(r'\{[^}]*\}', '{}', key) == shape:
            return key
    return None
