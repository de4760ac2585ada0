"""Mutated requests and responses: only ProtocolError escapes, whatever the split."""
import random

import pytest

from rhc.http import ProtocolError, RequestParser, ResponseParser

SEEDS = [
    b'GET /a?b=c HTTP/1.1\r\nHost: h\r\nAccept: */*\r\n\r\n',
    b'POST /p HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello',
    b'POST /c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n'
    b'5;x=1\r\nhello\r\n0\r\nT: 1\r\n\r\n',
    b'GET http://h/x HTTP/1.0\r\nConnection: keep-alive\r\n\r\n',
]
RESPONSE_SEEDS = [
    b'HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello',
    b'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n',
    b'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n',
    b'HTTP/1.0 200 OK\r\n\r\nuntil close',
]
ALPHABET = b'\r\n :;,\t\x00\x80aZ0f/?*-'


def mutate(rng, data):
    data = bytearray(data * rng.randint(1, 2))
    for _ in range(rng.randint(1, 4)):
        i = rng.randrange(len(data))
        action = rng.randrange(3)
        if action == 0:
            data[i] = rng.choice(ALPHABET)
        elif action == 1:
            data.insert(i, rng.choice(ALPHABET))
        else:
            del data[i]
    return bytes(data)


def run_requests(pieces):
    parser = RequestParser(max_body=1000)
    out = []
    try:
        for piece in pieces:
            parser.feed(piece)
            while (r := parser.next_request()) is not None:
                out.append((r.method, r.target, dict(r.headers), r.body, r.keep_alive))
    except ProtocolError as e:
        return out, e.status, parser.buffered
    return out, None, parser.buffered


def run_responses(pieces):
    parser = ResponseParser(max_body=1000)
    for _ in range(4):
        parser.expect('GET')
    out = []
    try:
        for piece in pieces:
            parser.feed(piece)
            while (r := parser.next_response()) is not None:
                out.append((r.status, dict(r.headers), r.body, r.keep_alive))
        parser.feed_eof()
        while (r := parser.next_response()) is not None:
            out.append((r.status, dict(r.headers), r.body, r.keep_alive))
    except ProtocolError as e:
        return out, e.status
    return out, None


@pytest.mark.parametrize('seed', range(300))
def test_mutated_requests(seed):
    rng = random.Random(seed)
    data = mutate(rng, rng.choice(SEEDS))
    whole = run_requests([data])
    single = run_requests([data[i:i + 1] for i in range(len(data))])
    assert whole[:2] == single[:2], data
    if whole[1] is None:        # whatever was not returned is an unfinished request
        assert whole[2] == single[2]


@pytest.mark.parametrize('seed', range(300))
def test_mutated_responses(seed):
    rng = random.Random(seed)
    data = mutate(rng, rng.choice(RESPONSE_SEEDS))
    whole = run_responses([data])
    single = run_responses([data[i:i + 1] for i in range(len(data))])
    assert whole == single, data
    assert whole[1] in (None, 502)
