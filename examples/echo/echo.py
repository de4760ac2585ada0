"""Echo the request back: a handy way to see what a handler receives."""


def echo(request):
    return {
        'method': request.method,
        'path': request.path,
        'query': request.query,
        'headers': dict(request.headers),
        'body': request.text,
    }
