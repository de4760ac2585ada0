"""Handlers that answer by calling another service, without blocking the loop."""
from rhc.micro import connection


def text(value):
    """CONTENT type: a quote is text; a JSON number or null is a 400 here, not a 500 later."""
    if not isinstance(value, str):
        raise ValueError('expected a string')
    return value


def quote(request, quote_id):
    # request.call runs the call on the loop and answers when it completes.
    request.call(connection.quotes.read(quote_id), on_success=shout, on_error=upstream_failed)


def add(request, text, author=None):
    request.call(connection.quotes.add(text, author=author), on_success_code=201,
                 on_error=upstream_failed)


def shout(request, quote):
    return {'quote': quote['text'].upper(), 'by': quote['author']}


def upstream_failed(request, error):
    # error is an rhc.CallError: .status is the upstream's HTTP status (None if unreachable).
    if error.status == 404:
        request.respond(404, {'error': 'no such quote'})
    else:
        request.respond(502, {'error': f'quotes service: {error}'})
