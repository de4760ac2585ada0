"""micro.parse: sources, structure, and a file using every directive."""
import os
import re
from pathlib import Path

import pytest

import micro
from micro.model import (Arg, Config, Connection, Content, Enum, Header, Health, Method,
                         Metrics, OpenAPI, Optional, Ready, Required, Resource, Route, Setup,
                         Teardown)

FILES = Path(__file__).parent / 'micro_files'
SEED = ['SERVER useless 12345', 'ROUTE /test/ping$', 'GET __main__.ping']


def test_public_api():
    assert micro.model.Service is not None
    assert issubclass(micro.MicroError, Exception)
    assert callable(micro.parse)


def test_seed():
    service = micro.parse(SEED)
    assert list(service.servers) == ['useless']
    server = service.servers['useless']
    assert (server.name, server.port, server.where) == ('useless', 12345, '<lines>:1')
    [route] = server.routes
    assert route.pattern == '/test/ping$' and route.regex.match('/test/ping')
    assert route.where == '<lines>:2'
    assert route.methods == {'GET': Method('GET', '__main__.ping', line=3)}


def test_text_with_newline_is_lines():
    assert micro.parse('\n'.join(SEED)) == micro.parse(SEED)


def test_file_path_names_the_source_as_given(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path('svc.micro').write_text('\n'.join(SEED))
    service = micro.parse('svc.micro')
    assert service.source == 'svc.micro'
    assert service.servers['useless'].where == 'svc.micro:1'


def test_dotted_path_finds_micro_file_in_package(tmp_path, monkeypatch):
    package = tmp_path / 'svcpkg' / 'sub'
    package.mkdir(parents=True)
    (tmp_path / 'svcpkg' / '__init__.py').write_text('')
    (package / '__init__.py').write_text('')
    (package / 'service.micro').write_text('IMPORT more.micro\n' + '\n'.join(SEED))
    (package / 'more.micro').write_text('CONFIG extra\n')
    monkeypatch.syspath_prepend(str(tmp_path))
    service = micro.parse('svcpkg.sub.service')
    path = str(package / 'service.micro')
    assert service.source == path
    assert service.servers['useless'].where == f'{path}:2'
    assert service.configs['extra'].where == f"{package / 'more.micro'}:1"


def test_import_from_lines_is_relative_to_cwd(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path('routes.micro').write_text('ROUTE /b$\nGET m.b\n')
    service = micro.parse(['SERVER s 0', 'IMPORT routes.micro', 'ROUTE /c$'])
    routes = service.servers['s'].routes
    assert [(r.pattern, r.where) for r in routes] == [
        ('/b$', 'routes.micro:1'), ('/c$', '<lines>:3')]


def test_import_is_relative_to_including_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / 'a').mkdir()
    (tmp_path / 'a' / 'b').mkdir()
    Path('a/top.micro').write_text('IMPORT b/mid.micro\n')
    Path('a/b/mid.micro').write_text('IMPORT ../leaf.micro\n')
    Path('a/leaf.micro').write_text('ENUM e x\n')
    service = micro.parse('a/top.micro')
    assert service.enums['e'].where == os.path.join('a', 'leaf.micro') + ':1'


def test_import_can_be_a_dotted_path(tmp_path, monkeypatch):
    (tmp_path / 'dotpkg').mkdir()
    (tmp_path / 'dotpkg' / '__init__.py').write_text('')
    (tmp_path / 'dotpkg' / 'enums.micro').write_text('ENUM e x\n')
    monkeypatch.syspath_prepend(str(tmp_path))
    service = micro.parse(['IMPORT dotpkg.enums'])
    assert service.enums['e'].items == ['x']


def test_same_file_imported_twice_is_not_a_cycle(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path('routes.micro').write_text('ROUTE /r$\n')
    service = micro.parse(['SERVER a 1', 'IMPORT routes.micro',
                           'SERVER b 2', 'IMPORT routes.micro'])
    assert [len(server.routes) for server in service.servers.values()] == [1, 1]


# --- structure ---------------------------------------------------------------

def test_auth_after_server_is_server_wide_and_none_means_no_auth():
    service = micro.parse(['SERVER a 1', 'AUTH m.check', 'SERVER b 2', 'AUTH none'])
    assert service.servers['a'].auth == 'm.check'
    assert service.servers['b'].auth is None


def test_auth_after_method_is_for_that_method():
    service = micro.parse(['SERVER a 1', 'ROUTE /x$', 'GET m.get', 'AUTH NONE',
                           'POST m.post', 'CONTENT name', 'AUTH m.admin'])
    methods = service.servers['a'].routes[0].methods
    assert (methods['GET'].auth, methods['POST'].auth) == ('none', 'm.admin')
    assert service.servers['a'].auth is None


def test_arg_and_silent_attach_to_route_after_a_method():
    service = micro.parse(['SERVER a 1', 'ROUTE /x/(\\d+)$', 'GET m.get', 'ARG int', 'SILENT'])
    route = service.servers['a'].routes[0]
    assert route.args == [Arg('int', line=4)] and route.silent is True


def test_header_goes_to_connection_until_a_resource_follows():
    service = micro.parse(['CONNECTION c', 'HEADER a 1', 'RESOURCE r /r', 'HEADER b 2',
                           'CONNECTION d', 'HEADER e 3'])
    connections = service.connections
    assert [h.key for h in connections['c'].headers] == ['a']
    assert [h.key for h in connections['c'].resources['r'].headers] == ['b']
    assert [h.key for h in connections['d'].headers] == ['e']


def test_a_new_server_closes_the_last_route():
    with pytest.raises(micro.MicroError, match='GET before any ROUTE'):
        micro.parse(['SERVER a 1', 'ROUTE /x', 'SERVER b 2', 'GET m.get'])


def test_top_level_directives_may_appear_anywhere():
    service = micro.parse(['SERVER a 1', 'ROUTE /x', 'GET m.get', 'ENUM e x', 'CONFIG c',
                           'CONNECTION k', 'SETUP m.s', 'TEARDOWN m.t', 'CONTENT f enum=e'])
    assert service.servers['a'].routes[0].methods['GET'].contents[0].enum == 'e'


def test_port_zero_may_repeat():
    assert len(micro.parse(['SERVER a 0', 'SERVER b 0']).servers) == 2


def test_openapi_fields_and_defaults():
    service = micro.parse(['SERVER a 0', 'OPENAPI /openapi.json', 'SERVER b 0',
                           'OPENAPI /api.json title=Quotes version=2.1 docs=/docs',
                           'SERVER c 0', 'OPENAPI /c.json docs=None'])
    a, b, c = (server.openapi for server in service.servers.values())
    assert a == OpenAPI('/openapi.json', 'a', '0.1.0', None, line=2)
    assert b == OpenAPI('/api.json', 'Quotes', '2.1', '/docs', line=4)
    assert (c.docs, c.where) == (None, '<lines>:6')


def test_probes_and_metrics_under_their_server():
    service = micro.parse(['SERVER a 0', 'HEALTH /health', 'READY /ready check=db.ping',
                           'ROUTE /x$', 'GET m.get', 'METRICS /metrics',
                           'SERVER b 0', 'ready /b/ready', 'SERVER c 0'])
    a, b, c = service.servers.values()
    assert a.health == Health('/health', line=2)
    assert a.ready == Ready('/ready', 'db.ping', line=3)
    assert a.metrics == Metrics('/metrics', line=6)
    assert (b.health, b.ready, b.metrics) == (None, Ready('/b/ready', line=8), None)
    assert (c.health, c.ready, c.metrics) == (None, None, None)


def test_the_same_probe_path_on_two_servers_is_fine():
    service = micro.parse(['SERVER a 0', 'HEALTH /health', 'SERVER b 0', 'HEALTH /health'])
    assert [s.health.path for s in service.servers.values()] == ['/health', '/health']


def test_config_default_checked_against_builtin_validate():
    service = micro.parse(['CONFIG a 1.5 float', 'CONFIG b yes bool', 'CONFIG c x m.check'])
    assert [c.default for c in service.configs.values()] == ['1.5', 'yes', 'x']


# --- every directive and parameter ------------------------------------------

def test_everything():
    top = str(FILES / 'everything.micro')
    imported = str(FILES / 'connections.micro')
    service = micro.parse(top)

    def at(line, source=top):
        return {'source': source, 'line': line}

    assert service.source == top
    assert service.configs == {
        'greeting': Config('greeting', **at(4)),
        'retries': Config('retries', '3', 'int', 'RETRIES', **at(5)),
        'certs': Config('certs', validate='file', **at(6)),
        'mode': Config('mode', 'hello', 'myapp.checks.mode', 'APP_MODE', **at(7)),
    }
    assert service.enums == {
        'color': Enum('color', ['red', 'green', 'blue'], to_upper=True, **at(9)),
        'size': Enum('size', ['small', 'large'], to_lower=True, **at(10)),
        'shape': Enum('shape', ['circle', 'square'], **at(6, imported)),
    }
    assert list(service.servers) == ['api', 'admin']

    api = service.servers['api']
    assert (api.name, api.port, api.auth, api.openapi) == (
        'api', 12345, 'myapp.auth.check', OpenAPI('/openapi.json', 'api', **at(14)))
    assert api.where == f'{top}:12'
    users, health, quiet = api.routes
    pattern = r'/users/(\d+)/(\d+)/([\d.]+)/(\w+)/(\w+)/(\w+)/(\w+)$'
    # the pattern as written; the regex ends at the true end of the path
    assert (users.pattern, users.regex, users.silent) == (
        pattern, re.compile(pattern[:-1] + r'\Z'), False)
    assert users.args == [
        Arg('int', **at(16)), Arg('count', **at(17)), Arg('float', **at(18)),
        Arg('bool', **at(19)), Arg('myapp.types.slug', **at(20)),
        Arg(enum='color', **at(21)), Arg(**at(22)),
    ]
    assert list(users.methods) == ['GET', 'POST', 'PUT', 'PATCH', 'DELETE']
    assert users.methods['GET'] == Method('GET', 'myapp.users.get', [
        Content('verbose', 'bool', is_required=False, default='false', **at(24)),
        Content('shape', enum='shape', **at(25)),
    ], auth='none', **at(23))
    assert users.methods['POST'] == Method('POST', 'myapp.users.post', [
        Content('name', **at(28)),
        Content('age', 'int', is_required=False, default='0', **at(29)),
        Content('size', 'myapp.types.size', 'size', True, 'small', **at(30)),
    ], auth='myapp.auth.admin', **at(27))
    assert users.methods['PUT'] == Method('PUT', 'myapp.users.put', **at(32))
    assert users.methods['PATCH'] == Method('PATCH', 'myapp.users.patch', **at(33))
    assert users.methods['DELETE'] == Method('DELETE', 'myapp.users.delete', **at(34))
    assert health == Route('/health$', re.compile(r'/health\Z'), silent=True, **at(35),
                           methods={'GET': Method('GET', 'myapp.health.get', **at(37))})
    assert (quiet.pattern, quiet.silent) == ('/quiet#not-a-comment$', False)

    admin = service.servers['admin']
    assert (admin.port, admin.auth, admin.openapi) == (0, None, None)
    assert admin.routes == [
        Route('/a=b$', re.compile(r'/a=b\Z'), **at(43),
              methods={'POST': Method('POST', 'myapp.admin.post', **at(44))}),
        Route('/imported$', re.compile(r'/imported\Z'), **at(3, imported),
              methods={'GET': Method('GET', 'myapp.admin.imported', **at(4, imported))}),
    ]

    assert list(service.connections) == ['weather', 'plain']
    assert service.connections['weather'] == Connection(
        'weather', 'https://weather.example.com', is_json=False, is_form=True, timeout=2.5,
        is_verbose=False, handler='myapp.weather.handler', wrapper='myapp.weather.wrapper',
        setup='myapp.weather.setup', code='myapp.weather.url', **at(8, imported),
        headers=[Header('X-Api-Key', config='api_key', **at(9, imported)),
                 Header('User-Agent', 'rhc#1', **at(10, imported))],
        resources={
            'forecast': Resource(
                'forecast', '/forecast/{city}', 'POST', True, 1.0, True, False,
                'myapp.forecast.handler', 'myapp.forecast.wrapper', 'myapp.forecast.setup',
                **at(11, imported),
                headers=[Header('X-Trace', code='myapp.weather.trace_id', **at(12, imported))],
                required=[Required('city', **at(13, imported)),
                          Required('days', **at(14, imported))],
                optional=[Optional('units', 'metric', **at(15, imported)),
                          Optional('limit', '10', 'weather_limit', 'int', **at(16, imported))]),
            'today': Resource('today', '/today', **at(17, imported),
                              headers=[Header('X-After', 'a=b', **at(18, imported))]),
        })
    # RESOURCE ping in everything.micro attaches to the CONNECTION the import left open.
    assert service.connections['plain'] == Connection(
        'plain', **at(20, imported),
        headers=[Header('Accept', 'application/json', **at(21, imported))],
        resources={'ping': Resource('ping', '/ping', **at(48))})

    assert service.setups == [Setup('myapp.lifecycle.start', **at(50)),
                              Setup('myapp.lifecycle.again', **at(51))]
    assert service.teardowns == [Teardown('myapp.lifecycle.stop', **at(52))]
