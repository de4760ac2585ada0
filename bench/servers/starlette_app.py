"""starlette peer, served by uvicorn (the harness runs it twice):

    uvicorn starlette_app:app --port PORT --no-access-log --loop uvloop --http httptools
    uvicorn starlette_app:app --port PORT --no-access-log --loop asyncio --http h11
"""
from starlette.applications import Starlette
from starlette.responses import JSONResponse, Response
from starlette.routing import Route


async def ping(request):
    return JSONResponse({'ping': 'pong'})


async def user(request):
    user_id = request.path_params['user_id']
    return JSONResponse({'id': user_id, 'name': f'user{user_id}'})


async def echo(request):
    body = await request.body()
    return Response(body, media_type='application/octet-stream')


app = Starlette(routes=[
    Route('/test/ping', ping),
    Route('/users/{user_id:int}', user),
    Route('/echo', echo, methods=['POST']),
])
