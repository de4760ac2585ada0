"""starlette peer, served by uvicorn (the harness runs it with several flags):

    uvicorn starlette_app:app --port PORT --no-access-log --loop uvloop --http httptools
    uvicorn starlette_app:app --port PORT --no-access-log --loop asyncio --http h11

The gateway calls BENCH_BACKEND_URL through one client shared by every
request, made in the lifespan: an httpx.AsyncClient, or an aiohttp
ClientSession when BENCH_GATEWAY_CLIENT=aiohttp. Both pools may keep 100
connections alive (aiohttp's default; httpx's default keeps only 20).
"""
import contextlib
import os

from starlette.applications import Starlette
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

BACKEND = os.environ.get('BENCH_BACKEND_URL', 'http://127.0.0.1:9')
CLIENT = os.environ.get('BENCH_GATEWAY_CLIENT', 'httpx')
POOL = 100


async def ping(request):
    return JSONResponse({'ping': 'pong'})


async def user(request):
    user_id = request.path_params['user_id']
    return JSONResponse({'id': user_id, 'name': f'user{user_id}'})


async def echo(request):
    body = await request.body()
    return Response(body, media_type='application/octet-stream')


async def upload(request):
    body = await request.body()
    return JSONResponse({'bytes': len(body)})


async def quote_httpx(request):
    url = f"{BACKEND}/quote/{request.path_params['quote_id']}"
    response = await request.app.state.backend.get(url)
    return JSONResponse(response.json())


async def quote_aiohttp(request):
    url = f"{BACKEND}/quote/{request.path_params['quote_id']}"
    async with request.app.state.backend.get(url) as response:
        return JSONResponse(await response.json())


@contextlib.asynccontextmanager
async def lifespan(app):
    if CLIENT == 'aiohttp':
        import aiohttp
        client = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=POOL))
    else:
        import httpx
        client = httpx.AsyncClient(limits=httpx.Limits(max_connections=POOL,
                                                       max_keepalive_connections=POOL))
    async with client:
        app.state.backend = client
        yield


app = Starlette(routes=[
    Route('/test/ping', ping),
    Route('/users/{user_id:int}', user),
    Route('/echo', echo, methods=['POST']),
    Route('/upload', upload, methods=['POST']),
    Route('/quote/{quote_id:int}', quote_aiohttp if CLIENT == 'aiohttp' else quote_httpx),
], lifespan=lifespan)
