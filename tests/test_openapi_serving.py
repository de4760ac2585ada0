"""OPENAPI served over a real socket: the document, the docs page, built-in routes.

The router's built-in routes are checked with data first; then a service
from tests/openapi_support.py is served on 127.0.0.1 port 0 (the `serve`
fixture) and called with http.client. The document served must equal what
`--openapi` prints; the page must point Swagger UI at it.
"""
import http.client
import json
import logging
import os
import subprocess
import sys

import pytest

import micro
from rhc.apidocs import SWAGGER_UI, docs_page
from rhc.routing import METHOD_NOT_ALLOWED, Router

from docs_support import ROOT, TESTS
from openapi_support import EVERYTHING, TOKEN

SWAGGER_UI_5 = 'swagger-ui-dist@5'


def get(port, path, method='GET', headers=None):
    conn = http.client.HTTPConnection('127.0.0.1', port, timeout=5)
    try:
        conn.request(method, path, headers=headers or {})
        response = conn.getresponse()
        return response.status, response.headers, response.read()
    finally:
        conn.close()


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


def test_served_document_is_what_launch_prints(serve, tmp_path):
    port = serve(EVERYTHING).port()
    status, headers, body = get(port, '/openapi.json')
    assert status == 200
    assert headers['Content-Type'] == 'application/json; charset=utf-8'
    assert json.loads(body) == launch_openapi(tmp_path, EVERYTHING)


def test_docs_page_points_swagger_ui_at_the_document(serve):
    port = serve(EVERYTHING).port()
    status, headers, body = get(port, '/docs')
    assert status == 200
    assert headers['Content-Type'] == 'text/html; charset=utf-8'
    page = body.decode()
    assert f'<script src="{SWAGGER_UI}/swagger-ui-bundle.js"></script>' in page
    assert f'<link rel="stylesheet" href="{SWAGGER_UI}/swagger-ui.css">' in page
    assert SWAGGER_UI_5 in SWAGGER_UI
    assert 'url: "/openapi.json"' in page
    assert '<title>Everything - API docs</title>' in page


def test_ui_url_setting_moves_swagger_ui(serve):
    local = 'http://127.0.0.1:9/swagger/'
    port = serve(EVERYTHING, config={'server.api.openapi.ui_url': local}).port()
    page = get(port, '/docs')[2].decode()
    assert '<script src="http://127.0.0.1:9/swagger/swagger-ui-bundle.js"></script>' in page
    assert SWAGGER_UI_5 not in page


def test_ui_url_from_the_environment(serve):
    env = {'SERVER_API_OPENAPI_UI_URL': 'http://127.0.0.1:9/env'}
    page = get(serve(EVERYTHING, environ=env).port(), '/docs')[2].decode()
    assert 'src="http://127.0.0.1:9/env/swagger-ui-bundle.js"' in page


def test_ui_url_is_a_setting_only_where_openapi_is(serve):
    with pytest.raises(micro.MicroError) as info:
        serve(['SERVER api 0'], config={'server.api.openapi.ui_url': 'http://x'})
    assert str(info.value) == "config: unknown setting 'server.api.openapi.ui_url'"
    with pytest.raises(micro.MicroError) as info:
        serve(['SERVER api 0', 'OPENAPI /o'], config={'server.api.openapi.ui_url': ' / '})
    assert 'bad value for server.api.openapi.ui_url' in str(info.value)


def test_both_paths_skip_auth_that_the_routes_need(serve):
    port = serve(EVERYTHING).port()
    assert get(port, '/merged')[0] == 401
    assert get(port, '/merged', headers={'Authorization': TOKEN})[0] == 200
    assert get(port, '/openapi.json')[0] == 200
    assert get(port, '/docs')[0] == 200


def test_head_and_other_methods(serve):
    port = serve(EVERYTHING).port()
    _, _, body = get(port, '/openapi.json')
    status, headers, empty = get(port, '/openapi.json', 'HEAD')
    assert (status, empty, int(headers['Content-Length'])) == (200, b'', len(body))
    status, headers, _ = get(port, '/openapi.json', 'POST')
    assert (status, headers['Allow']) == (405, 'GET, HEAD')


def test_without_docs_only_the_document_is_served(serve):
    port = serve(['SERVER api 0', 'OPENAPI /spec.json', 'ROUTE /x$', 'GET openapi_support.plain']).port()
    assert get(port, '/spec.json')[0] == 200
    assert get(port, '/docs')[0] == 404
    assert get(port, '/openapi.json')[0] == 404


def test_the_openapi_paths_are_not_in_the_document(serve):
    port = serve(EVERYTHING).port()
    doc = json.loads(get(port, '/openapi.json')[2])
    assert not {'/openapi.json', '/docs'} & set(doc['paths'])


def test_a_route_hidden_by_the_openapi_paths_is_logged(serve, caplog):
    caplog.set_level(logging.WARNING, logger='rhc.service')
    running = serve(['SERVER api 0', 'OPENAPI /openapi.json', 'ROUTE /', 'GET openapi_support.plain'])
    assert get(running.port(), '/openapi.json')[2].startswith(b'{"openapi"')
    assert get(running.port(), '/other')[2] == b'[]'
    assert [r.getMessage() for r in caplog.records] == [
        '<lines>:2: ROUTE / is hidden where it matches the OPENAPI paths']
