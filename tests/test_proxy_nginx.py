"""rhc behind a real nginx (Debian's nginx-light) that guards a path.

A front end that blocks `location = /admin` compares the *decoded* path, so
`/admin%0A` is not `/admin` to it and is passed on, raw, to rhc. rhc must not
serve that as `/admin`: its anchored route means the true end of the path,
and a decoded control character answers 400 before routing.
"""
import http.client

import pytest

from conftest import Launched
from frontends import NGINX, Nginx

pytestmark = pytest.mark.skipif(NGINX is None, reason='nginx is not installed '
                                                     '(apt-get install -y nginx-light)')

SERVICE = ['SERVER api 0', '  ROUTE /admin$', '    GET handlers.ping',
           '  ROUTE /test/ping$', '    GET handlers.ping']


@pytest.fixture(scope='module')
def proxied(tmp_path_factory):
    path = tmp_path_factory.mktemp('proxy') / 'service.micro'
    path.write_text('\n'.join(SERVICE) + '\n')
    launched = Launched([str(path)], env={'SERVER_API_HOST': '127.0.0.1'}).wait_listening()
    try:
        with Nginx(f"""
            location = /admin {{ return 403; }}
            location / {{ proxy_pass http://127.0.0.1:{launched.port()}; }}
        """) as nginx:
            yield nginx
    finally:
        launched.kill()


def answer(port, target):
    conn = http.client.HTTPConnection('127.0.0.1', port, timeout=5)
    try:
        conn.putrequest('GET', target, skip_accept_encoding=True)
        conn.endheaders()
        response = conn.getresponse()
        return response.status, response.getheader('X-Request-Id')
    finally:
        conn.close()


def status(port, target):
    return answer(port, target)[0]


def test_nginx_blocks_admin(proxied):
    assert status(proxied.port, '/admin') == 403
    assert status(proxied.port, '/test/ping') == 200


@pytest.mark.parametrize('target', ['/admin%0A', '/admin%0a', '/admin%0D%0A', '/admin%00',
                                    '/admin%09'])
def test_an_encoded_control_character_does_not_reach_admin(proxied, target):
    assert status(proxied.port, target) == 400


def test_the_newline_case_is_passed_on_and_refused_by_rhc(proxied):
    code, request_id = answer(proxied.port, '/admin%0A')
    assert code == 400 and request_id       # rhc's answer (nginx sets no X-Request-Id)
