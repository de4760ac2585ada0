"""Handlers of the benchmark's rhc service (bench/servers/rhc_app/service.micro)."""


def ping(request):
    return {'ping': 'pong'}


def user(request, user_id):
    return {'id': user_id, 'name': f'user{user_id}'}


def echo(request):
    return request.body
