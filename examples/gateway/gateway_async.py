"""The gateway's handlers as coroutines: each `await` lets the loop serve others meanwhile."""
import rhc
from rhc.micro import connection


async def quote(request, quote_id):
    try:
        found = await connection.quotes.read(quote_id)
    except rhc.CallError as error:
        return upstream_failed(error)
    return {'quote': found['text'].upper(), 'by': found['author']}


async def pair(request, first, second):
    # Both calls are in flight at once; gather returns their results in order.
    try:
        one, two = await rhc.gather(connection.quotes.read(first), connection.quotes.read(second))
    except rhc.CallError as error:
        return upstream_failed(error)
    return {'quotes': [one['text'], two['text']]}


async def add(request, text, author=None):
    try:
        return 201, await connection.quotes.add(text, author=author)
    except rhc.CallError as error:
        return upstream_failed(error)


def upstream_failed(error):
    # error is an rhc.CallError: .status is the upstream's HTTP status (None if unreachable).
    if error.status == 404:
        return 404, {'error': 'no such quote'}
    return 502, {'error': f'quotes service: {error}'}
