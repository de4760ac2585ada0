"""Feeding the sans-IO HTTP parsers the way a network might deliver bytes.

One driver for every parser test: the same bytes fed whole, one byte at a
time, or cut at given points, with each complete message taken out as soon as
it is ready. Only the parsers' public API is used (`feed`, `feed_eof`,
`next_request` / `next_response`, `buffered`, `in_progress`), so the tests
built on it do not depend on how the parsers work inside.
"""
import random
from typing import NamedTuple

from rhc.http import ProtocolError, RequestParser


class Fed(NamedTuple):
    """What feeding gave: the messages taken, the error that stopped it, the parser."""
    messages: list
    error: ProtocolError | None
    parser: object


def cut(data, points):
    """`data` cut at `points` (any order; a repeated point gives an empty piece)."""
    bounds = [0, *sorted(points), len(data)]
    return [data[a:b] for a, b in zip(bounds, bounds[1:])]


def bytewise(data):
    return [data[i:i + 1] for i in range(len(data))]


def random_points(data, seed, count=4):
    """Up to `count` distinct cut points inside `data`, the same for the same seed."""
    inside = range(1, len(data))
    return sorted(random.Random(seed).sample(inside, min(len(inside), count)))


def deliveries(data, cuttings=()):
    """Ways the bytes can arrive: whole, one byte at a time, then cut at each of `cuttings`."""
    yield [data]
    yield bytewise(data)
    for points in cuttings:
        yield cut(data, points)


def feed(parser, pieces, eof=False):
    """Feed `pieces` to `parser`, draining complete messages after each one.

    With `eof` (response parsers), `feed_eof` follows the last piece and the
    parser is drained once more. A ProtocolError stops the feeding and is
    returned, not raised, beside the messages taken before it.
    """
    if isinstance(parser, RequestParser):
        next_message = parser.next_request
    else:
        next_message = parser.next_response
    messages = []
    try:
        for piece in pieces:
            parser.feed(piece)
            while (message := next_message()) is not None:
                messages.append(message)
        if eof:
            parser.feed_eof()
            while (message := next_message()) is not None:
                messages.append(message)
    except ProtocolError as e:
        return Fed(messages, e, parser)
    return Fed(messages, None, parser)
