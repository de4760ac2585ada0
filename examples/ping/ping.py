def ping(request):
    return {'ping': 'pong'}
