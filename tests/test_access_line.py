"""The access line an Observer writes: through rhc's handler directly, or as a logging record.

`rhc.access` is given a handler of ours as its only destination for a test
(pytest keeps its own handler on the root logger, which would otherwise
take every line off the fast path); the observer is fed a connection and a
request that stand still, so the two paths can be compared line for line.
"""
import io
import json
import logging
import re

import pytest

import micro
from rhc import logs, observe
from rhc.logs import BufferedHandler, fast_handler
from rhc.routing import Router

SERVICE = micro.parse(['SERVER s 0', r'ROUTE /items/(\d+)$', 'GET handlers.ping'])


class Connection:
    """What the observer reads of a server connection, with a clock the test moves."""
    id = 7
    peer = ('127.0.0.1', 40404)

    def __init__(self, now=100.25):
        self.now = now

    def clock(self):
        return self.now


class Answered:
    """What the observer reads of an answered request."""
    def __init__(self, endpoint, path='/items/3', method='GET'):
        self.endpoint = endpoint
        self.method = method
        self.path = path
        self.request_id = 'req-1'
        self.trace_id = '0af7651916cd43dd8448eb211c80319c'
        self.bytes_in = 80
        self.started = 100.0


@pytest.fixture
def access_alone():
    """`rhc.access` with a handler of ours as its only destination: (handler, its stream)."""
    def install(format):
        out = io.StringIO()
        handler = BufferedHandler(out, format=format)
        access = logging.getLogger('rhc.access')
        saved = access.propagate, access.handlers[:], access.level
        access.propagate = False
        access.handlers[:] = [handler]
        access.setLevel(logging.INFO)
        installed.append(saved)
        return handler, out
    installed = []
    yield install
    access = logging.getLogger('rhc.access')
    for propagate, handlers, level in installed:
        access.propagate, access.handlers[:] = propagate, handlers
        access.setLevel(level)


def without_stamp(line, format):
    if format == 'json':
        document = json.loads(line)
        assert re.fullmatch(r'\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z', document.pop('ts'))
        return document
    stamp, rest = line[:23], line[24:]
    assert re.fullmatch(r'\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}', stamp)
    return rest


@pytest.mark.parametrize('format', logs.FORMATS)
@pytest.mark.parametrize('path', ['/items/3', '/items/3"\\\n\x1b', '/items/é😀'])
def test_the_fast_line_is_the_line_logging_would_write(access_alone, format, path):
    handler, out = access_alone(format)
    router = Router(SERVICE.servers['s'], {})
    observer = observe.Observer('s', router)
    request = Answered(router.routes[0].endpoints['GET'], path)
    assert fast_handler(logging.getLogger('rhc.access')) is handler
    observer.finished(Connection(), request, 200, 150)
    handler.addFilter(lambda record: True)      # the same, through logging.LogRecord
    assert fast_handler(logging.getLogger('rhc.access')) is None
    request.started += 0.001                    # the same duration, a millisecond later
    observer.finished(Connection(100.251), request, 200, 150)
    fast, slow = out.getvalue().splitlines()
    assert without_stamp(fast, format) == without_stamp(slow, format)
    if format == 'json':
        document = json.loads(fast)
        assert document['route'] == r'/items/(\d+)$' and document['path'] == \
            path.replace('\n', '\\x0a').replace('\x1b', '\\x1b')
        assert (document['cid'], document['peer'], document['duration_ms'], document['status'],
                document['bytes_in'], document['bytes_out'], document['trace_id']) == \
            (7, '127.0.0.1:40404', 250.0, 200, 80, 150, '0af7651916cd43dd8448eb211c80319c')
    else:
        assert fast.endswith(' INFO rhc.access conn=7 request_id=req-1 GET '
                             + path.replace('\n', '\\x0a').replace('\x1b', '\\x1b')
                             + ' 200 250.00ms in=80 out=150 trace=0af7651916cd43dd8448eb211c80319c')


def test_a_record_of_the_normal_path_carries_the_request_fields(access_alone):
    records = []
    handler, _ = access_alone('text')
    collect = logging.Handler()
    collect.emit = records.append
    logging.getLogger('rhc.access').addHandler(collect)
    router = Router(SERVICE.servers['s'], {})
    observe.Observer('s', router).finished(Connection(), Answered(None, '/nowhere'), 404, 99)
    [record] = records
    assert {name: getattr(record, name) for name in logs.REQUEST_FIELDS} == {
        'cid': 7, 'request_id': 'req-1', 'trace_id': '0af7651916cd43dd8448eb211c80319c', 'method': 'GET', 'path': '/nowhere',
        'route': '', 'status': 404, 'duration_ms': 250.0, 'bytes_in': 80, 'bytes_out': 99,
        'peer': '127.0.0.1:40404'}
    assert record.getMessage() == \
        'conn=7 request_id=req-1 GET /nowhere 404 250.00ms in=80 out=99 trace=0af7651916cd43dd8448eb211c80319c'


def test_silent_routes_log_only_their_failures(access_alone):
    handler, out = access_alone('text')
    service = micro.parse(['SERVER s 0', 'ROUTE /health$', 'SILENT', 'GET handlers.ping'])
    router = Router(service.servers['s'], {})
    observer = observe.Observer('s', router)
    endpoint = router.routes[0].endpoints['GET']
    observer.finished(Connection(), Answered(endpoint, '/health'), 200, 10)
    observer.finished(Connection(), Answered(endpoint, '/health'), 503, 10)
    handler.flush()
    assert [line.split(' ')[-5] for line in out.getvalue().splitlines()] == ['503']


def test_no_access_log_means_no_line(access_alone):
    handler, out = access_alone('text')
    router = Router(SERVICE.servers['s'], {})
    observe.Observer('s', router, log_requests=False).finished(
        Connection(), Answered(None), 404, 10)
    handler.flush()
    assert out.getvalue() == ''


@pytest.mark.parametrize('peer, text', [(('::1', 8080, 0, 0), '[::1]:8080'),
                                        (('10.0.0.1', 1), '10.0.0.1:1'), (None, None),
                                        ('/run/rhc.sock', '/run/rhc.sock')])
def test_peer_text(peer, text):
    assert observe.peer_text(peer) == text


def test_logging_is_looked_at_once_a_millisecond(access_alone, monkeypatch):
    """Finding the destination walks the logger chain: a busy server does it once a
    millisecond of its clock, and a change to `logging` reaches the lines after that."""
    handler, out = access_alone('text')
    walks = []
    monkeypatch.setattr(logs, 'fast_handler', lambda logger: walks.append(1) or fast_handler(logger))
    observer = observe.Observer('s', Router(SERVICE.servers['s'], {}))
    connection = Connection(100.2501)
    for _ in range(20):
        observer.finished(connection, Answered(None, '/nowhere'), 404, 10)
    assert len(walks) == 1
    logging.getLogger('rhc.access').setLevel(logging.WARNING)
    connection.now += 0.001
    observer.finished(connection, Answered(None, '/nowhere'), 404, 10)
    handler.flush()
    assert len(walks) == 2 and len(out.getvalue().splitlines()) == 20
