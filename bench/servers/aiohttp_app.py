"""aiohttp peer: python aiohttp_app.py PORT (access log off)."""
import sys

from aiohttp import web


async def ping(request):
    return web.json_response({'ping': 'pong'})


async def user(request):
    user_id = int(request.match_info['user_id'])
    return web.json_response({'id': user_id, 'name': f'user{user_id}'})


async def echo(request):
    body = await request.read()
    return web.Response(body=body, content_type='application/octet-stream')


def make_app():
    app = web.Application()
    app.router.add_get('/test/ping', ping)
    app.router.add_get(r'/users/{user_id:\d+}', user)
    app.router.add_post('/echo', echo)
    return app


if __name__ == '__main__':
    web.run_app(make_app(), host='127.0.0.1', port=int(sys.argv[1]), access_log=None,
                print=None)
