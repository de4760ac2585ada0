"""aiohttp peer: python aiohttp_app.py PORT [--access-log]

Access log off unless --access-log, which turns it on the way aiohttp's
documentation says: logging configured at INFO (to stderr) and run_app's
default access logger. The gateway calls BENCH_BACKEND_URL through one
ClientSession shared by every request, as aiohttp recommends.
"""
import logging
import os
import sys

import aiohttp
from aiohttp import web

BACKEND = os.environ.get('BENCH_BACKEND_URL', 'http://127.0.0.1:9')
MAX_UPLOAD = 16 * 1024 * 1024


async def ping(request):
    return web.json_response({'ping': 'pong'})


async def user(request):
    user_id = int(request.match_info['user_id'])
    return web.json_response({'id': user_id, 'name': f'user{user_id}'})


async def echo(request):
    body = await request.read()
    return web.Response(body=body, content_type='application/octet-stream')


async def upload(request):
    body = await request.read()
    return web.json_response({'bytes': len(body)})


async def quote(request):
    quote_id = int(request.match_info['quote_id'])
    async with request.app['backend'].get(f'{BACKEND}/quote/{quote_id}') as response:
        return web.json_response(await response.json())


async def backend_session(app):
    async with aiohttp.ClientSession() as session:
        app['backend'] = session
        yield


def make_app():
    app = web.Application(client_max_size=MAX_UPLOAD)
    app.router.add_get('/test/ping', ping)
    app.router.add_get(r'/users/{user_id:\d+}', user)
    app.router.add_post('/echo', echo)
    app.router.add_post('/upload', upload)
    app.router.add_get(r'/quote/{quote_id:\d+}', quote)
    app.cleanup_ctx.append(backend_session)
    return app


if __name__ == '__main__':
    logged = '--access-log' in sys.argv[2:]
    if logged:
        logging.basicConfig(level=logging.INFO)
    options = {} if logged else {'access_log': None}
    web.run_app(make_app(), host='127.0.0.1', port=int(sys.argv[1]), print=None, **options)
