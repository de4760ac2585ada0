"""The docs page in a real browser: headless Chromium, on 127.0.0.1 only.

There is no network here, so the CDN's Swagger UI cannot load (the browser is
told that no host but 127.0.0.1 exists). The first test checks that the page
still loads with its wiring in the DOM; the second serves a tiny fake
`swagger-ui-bundle.js` through the `openapi.ui_url` setting that fetches the
document it is pointed at and writes it into the page, which shows the whole
chain works: page -> script from ui_url -> SwaggerUIBundle({url}) -> document.
"""
import functools
import http.server
import shutil
import subprocess
import threading

import pytest

from rhc.apidocs import SWAGGER_UI

from openapi_support import EVERYTHING

CHROMIUM = shutil.which('chromium') or shutil.which('/usr/bin/chromium')
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(CHROMIUM is None, reason='needs Debian\'s chromium package (/usr/bin/chromium)'),
]

FAKE_BUNDLE = """\
window.SwaggerUIBundle = function (config) {
  var root = document.querySelector(config.dom_id);
  root.textContent = 'fake swagger ui for ' + config.url;
  fetch(config.url).then(function (r) { return r.json(); }).then(function (doc) {
    var p = document.createElement('p');
    p.id = 'loaded';
    p.textContent = 'document ' + doc.info.title + ' ' + doc.info.version + ' ' + doc.openapi;
    root.appendChild(p);
  });
  return {};
};
window.SwaggerUIBundle.presets = {apis: {}};
"""


def dump_dom(url, tmp_path):
    """The DOM Chromium holds once `url` has loaded (and its scripts have had 5 s)."""
    profile = tmp_path / 'profile'
    profile.mkdir()
    done = subprocess.run(
        [CHROMIUM, '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic',
         '--no-first-run', '--disable-background-networking', '--disable-component-update',
         '--disable-sync', f'--user-data-dir={profile}',
         '--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1',
         '--virtual-time-budget=5000', '--dump-dom', url],
        capture_output=True, text=True, timeout=25)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


@pytest.fixture
def static_server(tmp_path):
    """A plain http.server on 127.0.0.1 serving a fake swagger-ui-dist; its base URL."""
    root = tmp_path / 'swagger'
    root.mkdir()
    (root / 'swagger-ui-bundle.js').write_text(FAKE_BUNDLE)
    (root / 'swagger-ui.css').write_text('body { margin: 0 }\n')

    class Quiet(http.server.SimpleHTTPRequestHandler):
        requested = []

        def log_message(self, *args):
            Quiet.requested.append(self.path)

    handler = functools.partial(Quiet, directory=str(root))
    server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f'http://127.0.0.1:{server.server_address[1]}/', Quiet.requested
    server.shutdown()
    server.server_close()
    thread.join(5)


def test_page_loads_offline_with_its_wiring(serve, tmp_path):
    port = serve(EVERYTHING).port()
    dom = dump_dom(f'http://127.0.0.1:{port}/docs', tmp_path)
    assert '<title>Everything - API docs</title>' in dom
    assert f'<script src="{SWAGGER_UI}/swagger-ui-bundle.js"></script>' in dom
    assert 'swagger-ui-dist@5' in dom
    assert 'url: "/openapi.json"' in dom
    # The CDN could not be reached: the page says so, with a link to the document.
    assert 'that script could not be loaded' in dom
    assert '<a href="/openapi.json">/openapi.json</a>' in dom


def test_swagger_ui_from_ui_url_gets_the_document(serve, tmp_path, static_server):
    base, requested = static_server
    port = serve(EVERYTHING, config={'server.api.openapi.ui_url': base}).port()
    dom = dump_dom(f'http://127.0.0.1:{port}/docs', tmp_path)
    assert f'src="{base}swagger-ui-bundle.js"' in dom
    assert 'fake swagger ui for /openapi.json' in dom
    assert '<p id="loaded">document Everything 1.2.3 3.1.0</p>' in dom
    assert 'that script could not be loaded' not in dom
    assert set(requested) == {'/swagger-ui-bundle.js', '/swagger-ui.css'}
