"""OPENAPI served over a real socket: the document, the docs page, built-in routes.

The router's built-in routes are checked with data first; then a service
from tests/openapi_support.py is loaded by the test client (rhc.testing) on
127.0.0.1 port 0 and called over its socket. The document served must equal
what `--openapi` prints; the page must point Swagger UI at it.
"""
import json
import logging
import os
import subprocess
import sys

import pytest

import micro
from rhc.apidocs import SWAGGER_UI, docs_page
from rhc.routing import METHOD_NOT_ALLOWED, Router
from rhc.testing import Client

from docs_support import ROOT, TESTS
from openapi_support import EVERYTHING, TOKEN

SWAGGER_UI_5 = 'swagger-ui-dist@5'


# -- built-in routes, as data ----------------------------------------------------------

def router(lines):
    model = micro.parse(lines)
    return Router(next(iter(model.servers.values())), model.enums)


def builtin(request):
    return {'built': 'in'}


def test_builtin_route_comes_before_every_route():
    r = router(['SERVER s 0', 'AUTH openapi_support.allow_token', 'ROUTE /',
                'GET openapi_support.plain'])
    hidden = r.add_builtin('/probe', builtin, 'a probe')
    assert hidden == ['/']
    endpoint, route, groups = r.match('GET', '/probe')
    assert (endpoint.handler, endpoint.auth, endpoint.fields, groups) == (builtin, None, (), ())
    assert route.pattern == '/probe' and route.coerce_args(()) == ()
    assert r.match('GET', '/probe/more')[0].path == 'openapi_support.plain'   # exact paths only
    assert r.match('GET', '/probe')[0].path == 'a probe'


def test_builtin_route_answers_head_and_405_for_other_methods():
    r = router(['SERVER s 0'])
    r.add_builtin('/probe', builtin, 'a probe', silent=True)
    assert r.match('HEAD', '/probe')[0].silent is True
    assert r.match('POST', '/probe') == (METHOD_NOT_ALLOWED, 'GET, HEAD', None)
    assert r.match('GET', '/other') is None


def test_builtin_route_with_its_own_methods():
    r = router(['SERVER s 0'])
    r.add_builtin('/hook', builtin, 'a hook', methods=('POST',))
    assert r.match('POST', '/hook')[0].verb == 'POST'
    assert r.match('GET', '/hook') == (METHOD_NOT_ALLOWED, 'POST', None)


def test_one_path_cannot_be_built_in_twice():
    r = router(['SERVER s 0'])
    r.add_builtin('/x', builtin, 'the OpenAPI document')
    with pytest.raises(ValueError) as info:
        r.add_builtin('/x', builtin, 'a probe')
    assert str(info.value) == "'/x' is already served by the OpenAPI document"


# -- the page, as text ---------------------------------------------------------------------

def test_docs_page_escapes_what_it_is_given():
    page = docs_page('<b>&', '/a"</script>.json', 'https://cdn.example/ui?a=1&b=2')
    assert '<b>&' not in page and '&lt;b&gt;&amp; - API docs' in page
    assert '</script>.json' not in page
    assert 'url: "/a\\"\\u003c/script\\u003e.json"' in page
    assert 'src="https://cdn.example/ui?a=1&amp;b=2/swagger-ui-bundle.js"' in page


# -- over a socket -------------------------------------------------------------------------

def launch_openapi(tmp_path, lines):
    path = tmp_path / 'service.micro'
    path.write_text('\n'.join(lines) + '\n')
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([ROOT, TESTS]))
    done = subprocess.run([sys.executable, '-m', 'rhc.launch', str(path), '--openapi'],
                          capture_output=True, text=True, env=env, timeout=20)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.fixture
def everything():
    with Client(EVERYTHING) as client:
        yield client


def test_served_document_is_what_launch_prints(everything, tmp_path):
    answer = everything.get('/openapi.json')
    assert answer.status == 200
    assert answer.headers['Content-Type'] == 'application/json; charset=utf-8'
    assert answer.json() == launch_openapi(tmp_path, EVERYTHING)


def test_docs_page_points_swagger_ui_at_the_document(everything):
    answer = everything.get('/docs')
    assert answer.status == 200
    assert answer.headers['Content-Type'] == 'text/html; charset=utf-8'
    page = answer.text
    assert f'<script src="{SWAGGER_UI}/swagger-ui-bundle.js"></script>' in page
    assert f'<link rel="stylesheet" href="{SWAGGER_UI}/swagger-ui.css">' in page
    assert SWAGGER_UI_5 in SWAGGER_UI
    assert 'url: "/openapi.json"' in page
    assert '<title>Everything - API docs</title>' in page


def test_ui_url_setting_moves_swagger_ui():
    local = 'http://127.0.0.1:9/swagger/'
    with Client(EVERYTHING, config={'server.api.openapi.ui_url': local}) as client:
        page = client.get('/docs').text
    assert '<script src="http://127.0.0.1:9/swagger/swagger-ui-bundle.js"></script>' in page
    assert SWAGGER_UI_5 not in page


def test_ui_url_from_the_environment():
    env = {'SERVER_API_OPENAPI_UI_URL': 'http://127.0.0.1:9/env'}
    with Client(EVERYTHING, environ=env) as client:
        page = client.get('/docs').text
    assert 'src="http://127.0.0.1:9/env/swagger-ui-bundle.js"' in page


def test_ui_url_is_a_setting_only_where_openapi_is():
    with pytest.raises(micro.MicroError) as info:
        with Client(['SERVER api 0'], config={'server.api.openapi.ui_url': 'http://x'}):
            pass
    assert str(info.value) == "config: unknown setting 'server.api.openapi.ui_url'"
    with pytest.raises(micro.MicroError) as info:
        with Client(['SERVER api 0', 'OPENAPI /o'], config={'server.api.openapi.ui_url': ' / '}):
            pass
    assert 'bad value for server.api.openapi.ui_url' in str(info.value)


def test_both_paths_skip_auth_that_the_routes_need(everything):
    assert everything.get('/merged').status == 401
    assert everything.get('/merged', headers={'Authorization': TOKEN}).status == 200
    assert everything.get('/openapi.json').status == 200
    assert everything.get('/docs').status == 200


def test_head_and_other_methods(everything):
    body = everything.get('/openapi.json').body
    answer = everything.head('/openapi.json')
    assert (answer.status, answer.body) == (200, b'')
    assert int(answer.headers['Content-Length']) == len(body)
    answer = everything.post('/openapi.json')
    assert (answer.status, answer.headers['Allow']) == (405, 'GET, HEAD')


def test_without_docs_only_the_document_is_served():
    with Client(['SERVER api 0', 'OPENAPI /spec.json', 'ROUTE /x$',
                 'GET openapi_support.plain']) as client:
        assert client.get('/spec.json').status == 200
        assert client.get('/docs').status == 404
        assert client.get('/openapi.json').status == 404


def test_the_openapi_paths_are_not_in_the_document(everything):
    doc = everything.get('/openapi.json').json()
    assert not {'/openapi.json', '/docs'} & set(doc['paths'])


def test_a_route_hidden_by_the_openapi_paths_is_logged(caplog):
    caplog.set_level(logging.WARNING, logger='rhc.service')
    with Client(['SERVER api 0', 'OPENAPI /openapi.json', 'ROUTE /',
                 'GET openapi_support.plain']) as client:
        assert client.get('/openapi.json').body.startswith(b'{"openapi"')
        assert client.get('/other').body == b'[]'
    assert [r.getMessage() for r in caplog.records] == [
        '<lines>:2: ROUTE / is hidden where it matches the OPENAPI paths']
