"""A service that uses every directive the OpenAPI document describes, and its handlers.

`EVERYTHING` is named by tests/test_openapi_*.py as `openapi_support.*`:
ARG of each type (named and unnamed groups), ENUMs with and without folding,
CONTENT required, optional and with defaults, AUTH on the server and on a
method (and `none`), an alternation pattern, two templates that clash, and
one function serving several operations.
"""
import rhc

TOKEN = 'Bearer let-me-in'

EVERYTHING = [
    'ENUM color RED GREEN BLUE to_upper=yes',
    'ENUM state open done to_lower=true',
    'ENUM size small large',
    'ENUM shout hello WORLD to_upper=true',
    'SERVER api 0',
    '  OPENAPI /openapi.json title=Everything version=1.2.3 docs=/docs',
    '  AUTH openapi_support.allow_token',
    r'  ROUTE /items/(?P<item_id>\d+)/(\d+)/([\d.]+)/(\w+)/(\w+)/([a-z-]+)/(\w+)$',
    '    ARG int',
    '    ARG count',
    '    ARG float',
    '    ARG bool',
    '    ARG enum=color',
    '    ARG openapi_support.slug',
    '    ARG',
    '    GET openapi_support.show',
    '      CONTENT verbose type=bool is_required=false',
    '      CONTENT state enum=state default=OPEN',
    '      CONTENT limit type=int default=10',
    '      CONTENT q',
    '      AUTH none',
    '    PUT openapi_support.change',
    '      CONTENT size enum=size',
    '      CONTENT weight type=float is_required=false',
    '      CONTENT note is_required=false',
    '      AUTH openapi_support.allow_admin',
    '    DELETE openapi_support.change',
    '  ROUTE /items$',
    '    POST openapi_support.create',
    '      CONTENT name',
    '      CONTENT amount type=count',
    '      CONTENT tag is_required=false default=new',
    '      CONTENT flag type=bool default=false',
    '      CONTENT shout enum=shout is_required=false',
    r'  ROUTE ^/any/(a|b)$|^/other$',
    '    GET openapi_support.change',
    r'  ROUTE /same/(\d+)$',
    '    GET openapi_support.plain',
    r'  ROUTE /same/([a-z]+)$',
    '    GET openapi_support.plain',
    '    PATCH openapi_support.plain',
    '  ROUTE /merged$',
    '    GET openapi_support.show_merged',
    '  ROUTE /merged$',
    '    POST openapi_support.create_merged',
]


def allow_token(request):
    return request.headers.get('Authorization') == TOKEN


def allow_admin(request):
    return request.headers.get('Authorization') == TOKEN + '-admin'


def slug(value):
    """ARG type: lower-case words joined by '-'."""
    if not value or value.strip('-') != value:
        raise ValueError('expected a slug')
    return value


def show(request, *args, **kwargs):
    """Show one item.

    Every ARG type in one path, and CONTENT from the query.
    """
    return {'args': list(args), 'kwargs': kwargs}


def change(request, *args, **kwargs):
    """Change or delete an item."""
    return {'method': request.method, 'args': list(args), 'kwargs': kwargs}


async def create(request, **kwargs):
    """Create an item.

    A coroutine handler: its docstring is read all the same.
    """
    return 201, kwargs


def plain(request, *args):
    return list(args)


def show_merged(request):
    """Merged GET."""


def create_merged(request):
    """Merged POST."""


def text_400(request, n):
    """Answers its 400 as text: a contradiction of the document, for Schemathesis to find."""
    return 400, f'no {n}'
