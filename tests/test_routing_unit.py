"""rhc/routing.py as data: route tables built from micro models, matched without a socket.

`Router(server, enums).match(method, path)` has three outcomes: None (404),
`(METHOD_NOT_ALLOWED, allow, None)` (405), or `(endpoint, route, groups)`.
Coercion failures are `HTTPError(400, ..., field=...)`; what cannot be
resolved at load time is a `MicroError` at the line that named it.
"""
import pytest

import handlers
import micro
from micro import MicroError
from rhc.errors import HTTPError
from rhc.routing import METHOD_NOT_ALLOWED, Router

ENUMS = [
    'ENUM color RED GREEN BLUE to_upper=yes',
    'ENUM size small large to_lower=true',
    'ENUM exact One Two',
    'ENUM digits 1 2 3',
]


def router(*lines):
    """The Router of server `api` in these micro lines (the ENUMs above come first)."""
    model = micro.parse(ENUMS + list(lines))
    return Router(model.servers['api'], model.enums)


def load_error(*lines):
    with pytest.raises(MicroError) as e:
        router(*lines)
    return str(e.value)


def line_of(text, *lines):
    """The micro line number of `text` among ENUMS + lines."""
    return (ENUMS + list(lines)).index(text) + 1


# -- the three outcomes ---------------------------------------------------------

PING = ['SERVER api 0', 'ROUTE /ping$', 'GET handlers.ping']


def test_no_route_is_none():
    r = router(*PING)
    assert r.match('GET', '/nope') is None
    assert r.match('GET', '/x/ping') is None          # matched from the start, as re.match


def test_path_without_the_method_is_405_with_allow():
    assert router(*PING).match('POST', '/ping') == (METHOD_NOT_ALLOWED, 'GET, HEAD', None)


def test_full_match_gives_endpoint_route_and_groups():
    endpoint, route, groups = router(*PING).match('GET', '/ping')
    assert (endpoint.verb, endpoint.path) == ('GET', 'handlers.ping')
    assert endpoint.handler is handlers.ping
    assert (endpoint.fields, endpoint.auth, endpoint.silent) == ([], None, False)
    assert route.pattern == '/ping$'
    assert groups == ()


def test_groups_are_the_regex_groups_as_strings():
    r = router('SERVER api 0', r'ROUTE /user/(\d+)/(?P<part>\w+)', 'GET handlers.typed')
    assert r.match('GET', '/user/42/bob/more')[2] == ('42', 'bob')


def test_dollar_is_the_true_end_of_the_path():
    r = router(*PING)
    assert r.match('GET', '/ping\n') is None
    assert r.match('GET', '/ping/') is None


def test_without_dollar_a_route_matches_a_prefix():
    r = router('SERVER api 0', 'ROUTE /files', 'GET handlers.ping')
    assert r.match('GET', '/files/a/b')[1].pattern == '/files'


def test_first_matching_route_wins_in_file_order():
    r = router('SERVER api 0',
               'ROUTE /a/', 'GET handlers.ret_dict',
               'ROUTE /a/b$', 'GET handlers.ret_list', 'POST handlers.ret_str')
    assert r.match('GET', '/a/b')[0].handler is handlers.ret_dict
    # A route that has the path but not the method does not stop the search.
    assert r.match('POST', '/a/b')[0].handler is handlers.ret_str
    assert r.match('POST', '/a/c') == (METHOD_NOT_ALLOWED, 'GET, HEAD', None)


def test_head_is_served_by_get():
    r = router(*PING)
    endpoint, route, _ = r.match('HEAD', '/ping')
    assert endpoint is r.match('GET', '/ping')[0]
    assert endpoint.verb == 'GET'
    assert route.allow == {'GET', 'HEAD'}


def test_no_head_without_get():
    r = router('SERVER api 0', 'ROUTE /p$', 'POST handlers.ping', 'DELETE handlers.ping')
    assert r.match('HEAD', '/p') == (METHOD_NOT_ALLOWED, 'DELETE, POST', None)


def test_allow_is_the_union_over_the_routes_that_match_the_path():
    r = router('SERVER api 0',
               'ROUTE /things', 'POST handlers.ping',
               'ROUTE /things/1$', 'GET handlers.ping', 'PUT handlers.ping',
               'ROUTE /other$', 'PATCH handlers.ping',
               'ROUTE /things/(\\d+)$', 'DELETE handlers.ping')
    assert r.match('PATCH', '/things/1') == \
        (METHOD_NOT_ALLOWED, 'DELETE, GET, HEAD, POST, PUT', None)
    assert r.match('PATCH', '/things/2') == (METHOD_NOT_ALLOWED, 'DELETE, POST', None)
    assert r.match('PATCH', '/other')[0].verb == 'PATCH'


def test_routes_of_another_server_are_not_in_this_router():
    r = router('SERVER api 0', 'ROUTE /a$', 'GET handlers.ping',
               'SERVER other 0', 'ROUTE /b$', 'GET handlers.ping')
    assert r.match('GET', '/b') is None and r.match('GET', '/a') is not None


def test_silent_route():
    r = router('SERVER api 0', 'ROUTE /health$', 'SILENT', 'GET handlers.ping')
    assert r.match('GET', '/health')[0].silent is True


# -- ARG --------------------------------------------------------------------------

def args(arg, value):
    """The handler's positional arguments for a one-group route with this ARG."""
    r = router('SERVER api 0', 'ROUTE /v/([^/]+)$', arg, 'GET handlers.typed')
    _, route, groups = r.match('GET', f'/v/{value}')
    return list(route.coerce_args(groups))


@pytest.mark.parametrize('arg, value, expected', [
    ('ARG int', '42', 42), ('ARG int', '-3', -3), ('ARG int', '007', 7),
    ('ARG float', '2.5', 2.5), ('ARG float', '3', 3.0), ('ARG float', '1e3', 1000.0),
    ('ARG count', '1', 1), ('ARG count', '99', 99),
    ('ARG bool', 'true', True), ('ARG bool', 'No', False), ('ARG bool', '1', True),
    ('ARG bool', 'YES', True), ('ARG bool', '0', False),
    ('ARG handlers.slug', 'a-b', 'slug:a-b'),
    ('ARG enum=color', 'red', 'RED'), ('ARG enum=color', 'Green', 'GREEN'),
    ('ARG enum=size', 'LARGE', 'large'),
    ('ARG enum=exact', 'One', 'One'),
    ('ARG int enum=digits', '2', 2),                   # the enum is checked, then the type
    ('ARG', 'raw', 'raw'),
])
def test_arg_coerced(arg, value, expected):
    [got] = args(arg, value)
    assert got == expected and type(got) is type(expected)


@pytest.mark.parametrize('arg, value, message', [
    ('ARG int', '4x', 'expected an integer'),
    ('ARG int', '1.5', 'expected an integer'),
    ('ARG float', 'abc', 'expected a number'),
    ('ARG count', '0', 'expected an integer >= 1'),
    ('ARG count', '-1', 'expected an integer >= 1'),
    ('ARG count', 'x', 'expected an integer'),
    ('ARG bool', 'maybe', 'expected a boolean'),
    ('ARG handlers.slug', 'NotASlug', 'expected a slug'),
    ('ARG enum=color', 'purple', 'must be one of: RED, GREEN, BLUE'),
    ('ARG enum=size', 'medium', 'must be one of: small, large'),
    ('ARG enum=exact', 'one', 'must be one of: One, Two'),       # no folding asked for
    ('ARG int enum=digits', '4', 'must be one of: 1, 2, 3'),
])
def test_arg_failure_is_400_naming_arg1(arg, value, message):
    with pytest.raises(HTTPError) as e:
        args(arg, value)
    assert (e.value.status, e.value.message, e.value.field) == (400, f'arg1: {message}', 'arg1')
    assert e.value.document() == {'error': f'arg1: {message}', 'field': 'arg1'}


def test_arg_failure_names_its_position():
    r = router('SERVER api 0', 'ROUTE /raw/([^/]+)/([^/]+)$', 'ARG', 'ARG int',
               'GET handlers.typed')
    _, route, groups = r.match('GET', '/raw/x/5')
    assert list(route.coerce_args(groups)) == ['x', 5]
    _, route, groups = r.match('GET', '/raw/x/y')
    with pytest.raises(HTTPError) as e:
        route.coerce_args(groups)
    assert (e.value.message, e.value.field) == ('arg2: expected an integer', 'arg2')


@pytest.mark.parametrize('path, message, field', [
    ('/named/x/2', 'arg1: expected an integer', 'arg1'),
    ('/named/1/y', 'second: expected an integer', 'second'),
])
def test_arg_failure_names_a_named_group(path, message, field):
    r = router('SERVER api 0', r'ROUTE /named/([^/]+)/(?P<second>[^/]+)$', 'ARG int', 'ARG int',
               'GET handlers.typed')
    _, route, groups = r.match('GET', path)
    with pytest.raises(HTTPError) as e:
        route.coerce_args(groups)
    assert (e.value.status, e.value.message, e.value.field) == (400, message, field)


def test_optional_group_that_did_not_match_stays_none():
    r = router('SERVER api 0', r'ROUTE /optional(?:/(\d+))?$', 'ARG count', 'GET handlers.typed')
    _, route, groups = r.match('GET', '/optional')
    assert list(route.coerce_args(groups)) == [None]
    _, route, groups = r.match('GET', '/optional/5')
    assert list(route.coerce_args(groups)) == [5]


def test_groups_beyond_the_args_stay_strings():
    r = router('SERVER api 0', r'ROUTE /m/(\d+)/(\d+)$', 'ARG int', 'GET handlers.typed')
    _, route, groups = r.match('GET', '/m/1/2')
    assert list(route.coerce_args(groups)) == [1, '2']


def test_arg_type_that_does_not_import_is_an_error_at_its_line():
    lines = ['SERVER api 0', 'ROUTE /v/(.+)$', 'ARG handlers.nope', 'GET handlers.typed']
    assert load_error(*lines) == (f"<lines>:{line_of('ARG handlers.nope', *lines)}: cannot import "
                                  "'handlers.nope': 'handlers' has no attribute 'nope'")


# -- CONTENT fields ---------------------------------------------------------------

def fields(*contents):
    r = router('SERVER api 0', 'ROUTE /c$', 'POST handlers.typed', *contents)
    return {f.name: f for f in r.match('POST', '/c')[0].fields}


def test_content_required_by_default_without_coercion():
    [name] = fields('CONTENT name').values()
    assert (name.name, name.is_required, name.default, name.coerce) == ('name', True, None, None)


def test_content_default_is_coerced_once_at_load():
    f = fields('CONTENT age type=int is_required=no default=7',
               'CONTENT size enum=size is_required=no default=LARGE',
               'CONTENT kind handlers.slug default=a-b',
               'CONTENT note is_required=no',
               'CONTENT word default=hello')
    assert (f['age'].default, f['age'].is_required) == (7, False)
    assert f['size'].default == 'large'
    assert f['kind'].default == 'slug:a-b'
    assert (f['note'].default, f['note'].is_required) == (None, False)
    # A default makes a field optional even though is_required defaults to true.
    assert (f['word'].default, f['word'].is_required, f['word'].coerce) == ('hello', False, None)


def test_content_fields_keep_file_order():
    assert list(fields('CONTENT b', 'CONTENT a', 'CONTENT c')) == ['b', 'a', 'c']


@pytest.mark.parametrize('content, value, expected', [
    ('CONTENT n int', 5, 5), ('CONTENT n int', 5.0, 5), ('CONTENT n int', '12', 12),
    ('CONTENT n float', 2, 2.0), ('CONTENT n float', '0.5', 0.5),
    ('CONTENT n count', 3, 3),
    ('CONTENT n bool', True, True), ('CONTENT n bool', 'no', False), ('CONTENT n bool', 0, False),
    ('CONTENT n enum=color', 'blue', 'BLUE'),
])
def test_content_coercion_of_json_and_text_values(content, value, expected):
    got = fields(content)['n'].coerce(value)
    assert got == expected and type(got) is type(expected)


@pytest.mark.parametrize('content, value, message', [
    ('CONTENT n int', 5.5, 'expected an integer'),
    ('CONTENT n int', True, 'expected an integer'),        # a JSON true is not 1
    ('CONTENT n int', None, 'expected an integer'),
    ('CONTENT n int', [1], 'expected an integer'),
    ('CONTENT n float', False, 'expected a number'),
    ('CONTENT n float', 'x', 'expected a number'),
    ('CONTENT n float', None, 'expected a number'),
    ('CONTENT n count', 0.0, 'expected an integer >= 1'),
    ('CONTENT n bool', 'maybe', 'expected a boolean'),
    ('CONTENT n enum=color', 3, 'must be one of: RED, GREEN, BLUE'),
])
def test_content_coercion_failure_says_why(content, value, message):
    with pytest.raises(ValueError) as e:
        fields(content)['n'].coerce(value)
    assert str(e.value) == message


def test_bad_content_default_is_an_error_at_its_line():
    lines = ['SERVER api 0', 'ROUTE /c$', 'POST handlers.typed',
             'CONTENT age type=int default=seven']
    assert load_error(*lines) == (f'<lines>:{line_of(lines[-1], *lines)}: bad default '
                                  "'seven' for age: expected an integer")


def test_content_default_outside_its_enum_is_an_error():
    lines = ['SERVER api 0', 'ROUTE /c$', 'POST handlers.typed', 'CONTENT s enum=size default=huge']
    assert load_error(*lines) == (f'<lines>:{line_of(lines[-1], *lines)}: bad default '
                                  "'huge' for s: must be one of: small, large")


# -- handlers and AUTH ------------------------------------------------------------

def endpoints(*lines):
    """{(verb, path): endpoint} of server api."""
    r = router(*lines)
    return {(v, route.pattern): e for route in r.routes for v, e in route.endpoints.items()}


def test_auth_server_level_method_level_and_none():
    e = endpoints('SERVER api 0', 'AUTH handlers.allow_token',
                  'ROUTE /a$', 'GET handlers.ping',
                  'POST handlers.ping', 'AUTH handlers.allow_admin',
                  'ROUTE /b$', 'GET handlers.ping', 'AUTH none', 'PUT handlers.ping')
    assert e['GET', '/a$'].auth is handlers.allow_token
    assert e['HEAD', '/a$'].auth is handlers.allow_token
    assert e['POST', '/a$'].auth is handlers.allow_admin
    assert e['GET', '/b$'].auth is None
    assert e['PUT', '/b$'].auth is handlers.allow_token


def test_no_auth_anywhere():
    e = endpoints('SERVER api 0', 'ROUTE /a$', 'GET handlers.ping', 'AUTH none',
                  'POST handlers.ping')
    assert e['GET', '/a$'].auth is None and e['POST', '/a$'].auth is None


def test_method_auth_without_server_auth():
    e = endpoints('SERVER api 0', 'ROUTE /a$', 'GET handlers.ping', 'AUTH handlers.deny',
                  'POST handlers.ping')
    assert e['GET', '/a$'].auth is handlers.deny and e['POST', '/a$'].auth is None


def test_auth_none_on_the_server_is_no_check():
    e = endpoints('SERVER api 0', 'AUTH none', 'ROUTE /a$', 'GET handlers.ping')
    assert e['GET', '/a$'].auth is None


def test_auth_that_does_not_import_is_an_error_at_the_method_it_guards():
    # The model keeps AUTH as a path on the server or method, so the error is
    # reported at the method that would have called it.
    lines = ['SERVER api 0', 'AUTH handlers.missing', 'ROUTE /a$', 'GET handlers.ping']
    assert load_error(*lines) == (f"<lines>:{line_of('GET handlers.ping', *lines)}: cannot import "
                                  "'handlers.missing': 'handlers' has no attribute 'missing'")


def test_handler_that_does_not_import_is_an_error_at_its_line():
    lines = ['SERVER api 0', 'ROUTE /a$', 'GET handlers.ping', 'POST nosuchmodule.fn']
    assert load_error(*lines) == (f"<lines>:{line_of(lines[-1], *lines)}: cannot import "
                                  "'nosuchmodule.fn': no module named 'nosuchmodule'")


def test_handler_that_is_not_callable_is_an_error_at_its_line():
    lines = ['SERVER api 0', 'ROUTE /a$', 'GET handlers._json']
    assert load_error(*lines) == (f"<lines>:{line_of(lines[-1], *lines)}: "
                                  "'handlers._json' is not callable")
