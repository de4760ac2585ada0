"""Serving a server's OpenAPI document, and a Swagger UI page that shows it.

Both are built-in routes (`Router.add_builtin`): exact paths answered before
the user's ROUTEs, without AUTH. The document is serialized once; the page is
a few lines of HTML that load Swagger UI 5 from a CDN (as FastAPI does, the
JavaScript is not shipped with rhc) and point it at the document. The CDN's
base URL is the setting `server.NAME.openapi.ui_url`, for a network that
cannot reach the public one.
"""
import html
import json

SWAGGER_UI = 'https://cdn.jsdelivr.net/npm/swagger-ui-dist@5'   # major version 5, pinned
JSON = 'application/json; charset=utf-8'
HTML = 'text/html; charset=utf-8'

PAGE = """\
<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<link rel="stylesheet" href="{ui}/swagger-ui.css">
</head>
<body>
<div id="swagger-ui">
<p>This page shows the OpenAPI document <a href="{href}">{href}</a> with Swagger UI,
loaded from {ui}; if nothing else appears, that script could not be loaded.</p>
</div>
<script src="{ui}/swagger-ui-bundle.js"></script>
<script>
if (window.SwaggerUIBundle) {{
  window.ui = SwaggerUIBundle({{
    url: {url},
    dom_id: '#swagger-ui',
    deepLinking: true,
    showExtensions: true,
    presets: [SwaggerUIBundle.presets.apis],
  }});
}}
</script>
</body>
</html>
"""


def ui_base(value):
    """The `openapi.ui_url` setting: a base URL, kept without its trailing '/'."""
    value = str(value).strip().rstrip('/')
    if not value:
        raise ValueError('a base URL is needed, like ' + SWAGGER_UI)
    return value


def docs_page(title, document_path, ui_url=SWAGGER_UI):
    """The HTML of the docs page for the document served at `document_path`."""
    # In a <script>, '</' could end the element early: JSON with '<' escaped cannot.
    url = json.dumps(document_path).replace('<', '\\u003c').replace('>', '\\u003e')
    return PAGE.format(title=html.escape(f'{title} - API docs'), ui=html.escape(ui_url),
                       href=html.escape(document_path), url=url)


def fixed(content_type, body):
    """A built-in handler that answers `body` (bytes), made once, to every request."""
    headers = {'Content-Type': content_type}

    def answer(request):
        return 200, body, headers
    return answer


def install(router, openapi, document, ui_url=SWAGGER_UI):
    """Serve `document` at `openapi.path` (and, with `openapi.docs`, the page) on `router`.

    Returns the ROUTE patterns these paths hide; a path that another built-in
    already serves is a ValueError.
    """
    body = json.dumps(document).encode()
    hidden = router.add_builtin(openapi.path, fixed(JSON, body), 'the OpenAPI document')
    if openapi.docs is not None:
        page = docs_page(openapi.title, openapi.path, ui_url).encode()
        hidden += router.add_builtin(openapi.docs, fixed(HTML, page), 'the OpenAPI docs page')
    return hidden
