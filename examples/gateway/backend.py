import rhc

QUOTES = {1: {'id': 1, 'text': 'Simple is better than complex.', 'author': 'Tim Peters'}}


def add(request, text, author):
    quote = {'id': max(QUOTES) + 1, 'text': text, 'author': author}
    QUOTES[quote['id']] = quote
    return 201, quote


def read(request, quote_id):
    if quote_id not in QUOTES:
        raise rhc.HTTPError(404, f'no quote {quote_id}')
    return QUOTES[quote_id]
