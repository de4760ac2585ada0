"""METRICS path: what a server serves there, judged by promtool and prometheus_client's parser.

The families live in the process's default registry, so each test names its
servers afresh and reads only their series; client-call counters, shared
by connection and resource names, are compared before and after.
"""
import http.client
import itertools
import logging
import os

import pytest
from prometheus_client.parser import text_string_to_metric_families

import micro
import rhc
import rhc.metrics
from micro import MicroError
from rhc.exposition import CONTENT_TYPE
from rhc.loop import Loop
from rhc.service import Service

from client_support import load, port_of, refused_port
from metrics_support import promtool

_names = itertools.count(1)


def fresh(prefix='m'):
    return f'{prefix}{os.getpid()}x{next(_names)}'


def request(port, method, path, headers=None):
    conn = http.client.HTTPConnection('127.0.0.1', port, timeout=5)
    try:
        conn.request(method, path, headers=headers or {})
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        conn.close()


def scrape(port, path='/metrics'):
    status, headers, body = request(port, 'GET', path)
    assert status == 200, body
    assert headers['Content-Type'] == CONTENT_TYPE
    return body.decode('utf-8')


def series(text, name, **labels):
    """{sample name: value} of family `name` for the samples with these labels (and maybe more)."""
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name.startswith(name) and \
                    all(sample.labels.get(k) == v for k, v in labels.items()):
                key = (sample.name, tuple(sorted(sample.labels.items())))
                assert key not in found, f'duplicate series {key}'
                found[key] = sample.value
    return found


def value(text, sample_name, **labels):
    """The one sample `sample_name` with exactly these labels."""
    want = tuple(sorted(labels.items()))
    hits = [v for (name, got), v in series(text, sample_name).items()
            if name == sample_name and got == want]
    assert len(hits) == 1, (sample_name, labels, series(text, sample_name))
    return hits[0]


def service_lines(name, *extra):
    return [f'SERVER {name} 0', '  METRICS /metrics', *extra,
            r'  ROUTE /items/(\d+)$', '    ARG int', '    GET handlers.thing',
            '  ROUTE /quoted/"x"$', '    GET handlers.ping',
            '  ROUTE /health$', '    SILENT', '    GET handlers.ping',
            '  ROUTE /boom$', '    GET handlers.boom']


# -- the families, counted right ---------------------------------------------------------------

def test_counts_are_right_after_n_requests(serve):
    name = fresh()
    port = serve(service_lines(name)).port()
    for n in range(25):
        assert request(port, 'GET', f'/items/{n}')[0] == 200
    for _ in range(3):
        assert request(port, 'HEAD', '/items/1')[0] == 200
        assert request(port, 'GET', '/nowhere')[0] == 404
    assert request(port, 'DELETE', '/items/1')[0] == 405
    assert request(port, 'GET', '/quoted/"x"')[0] == 200
    assert request(port, 'GET', '/health')[0] == 200
    assert request(port, 'GET', '/boom')[0] == 500
    scrape(port)            # scrapes are not counted
    text = scrape(port)
    promtool(text)
    route = r'/items/(\d+)$'
    total = 'rhc_requests_total'
    assert value(text, total, server=name, route=route, method='GET', status='200') == 25
    assert value(text, total, server=name, route=route, method='HEAD', status='200') == 3
    assert value(text, total, server=name, route='', method='GET', status='404') == 3
    assert value(text, total, server=name, route='', method='DELETE', status='405') == 1
    assert value(text, total, server=name, route='/quoted/"x"$', method='GET', status='200') == 1
    assert value(text, total, server=name, route='/health$', method='GET', status='200') == 1
    assert value(text, total, server=name, route='/boom$', method='GET', status='500') == 1
    assert sum(series(text, total, server=name).values()) == 35
    duration = 'rhc_request_duration_seconds'
    assert value(text, f'{duration}_count', server=name, route=route, method='GET') == 25
    buckets = [v for (sample, labels), v in series(text, f'{duration}_bucket', server=name,
                                                  route=route, method='GET').items()]
    assert buckets == sorted(buckets) and buckets[-1] == 25
    assert 0 < value(text, f'{duration}_sum', server=name, route=route, method='GET') < 25
    assert value(text, 'rhc_requests_in_flight', server=name) == 1     # this scrape
    assert value(text, 'rhc_connections_open', server=name) >= 1


def test_label_values_stay_bounded_whatever_the_client_sends(serve):
    name = fresh()
    port = serve(service_lines(name)).port()
    for n in range(20):
        request(port, 'GET', f'/random/{n}')
        request(port, f'BREW{n}', '/items/1')
    text = scrape(port)
    promtool(text)
    counted = series(text, 'rhc_requests_total', server=name)
    assert {labels for _, labels in counted} == {
        (('method', 'GET'), ('route', ''), ('server', name), ('status', '404')),
        (('method', 'other'), ('route', ''), ('server', name), ('status', '405'))}
    assert sum(counted.values()) == 40


def test_metrics_skip_auth_and_answer_head(serve):
    name = fresh()
    port = serve(service_lines(name, '  AUTH handlers.deny')).port()
    assert request(port, 'GET', '/items/1')[0] == 401
    text = scrape(port)
    assert value(text, 'rhc_requests_total', server=name, route=r'/items/(\d+)$', method='GET',
                 status='401') == 1
    status, headers, body = request(port, 'HEAD', '/metrics')
    assert (status, body, headers['Content-Type']) == (200, b'', CONTENT_TYPE)
    assert int(headers['Content-Length']) > 0
    assert request(port, 'POST', '/metrics')[0] == 405


def test_every_server_of_the_service_is_counted_and_served(serve):
    admin, public = fresh('admin'), fresh('public')
    running = serve([f'SERVER {public} 0', '  ROUTE /ping$', '    GET handlers.ping',
                     f'SERVER {admin} 0', '  METRICS /metrics'])
    request(running.port(public), 'GET', '/ping')
    text = scrape(running.port(admin))
    assert value(text, 'rhc_requests_total', server=public, route='/ping$', method='GET',
                 status='200') == 1
    assert value(text, 'rhc_connections_open', server=public) == 0
    assert request(running.port(public), 'GET', '/metrics')[0] == 404


def test_without_metrics_nothing_is_counted(serve):
    name = fresh()
    port = serve([f'SERVER {name} 0', '  ROUTE /ping$', '    GET handlers.ping']).port()
    request(port, 'GET', '/ping')
    assert not series(rhc.metrics.exposition(), 'rhc_requests_total', server=name)


def test_a_non_silent_builtin_route_is_counted_under_its_path(serve):
    name = fresh()
    port = serve([f'SERVER {name} 0', '  METRICS /metrics', '  OPENAPI /openapi.json',
                  '  ROUTE /ping$', '    GET handlers.ping']).port()
    assert request(port, 'GET', '/openapi.json')[0] == 200
    assert value(scrape(port), 'rhc_requests_total', server=name, route='/openapi.json',
                 method='GET', status='200') == 1


def test_handlers_metrics_and_process_metrics_are_served(serve):
    name = fresh()
    port = serve(service_lines(name)).port()
    hits = rhc.metrics.counter('test_serving_hits_total', 'Hits counted by a test.',
                               labels=('kind',))
    try:
        hits.labels('a "quoted" \\ kind\n').inc(3)
        text = scrape(port)
        promtool(text)
        assert value(text, 'test_serving_hits_total', kind='a "quoted" \\ kind\n') == 3
    finally:
        rhc.metrics.REGISTRY.unregister('test_serving_hits_total')
    if os.path.exists('/proc/self/stat'):
        for family in ('process_resident_memory_bytes', 'process_cpu_seconds_total',
                       'process_open_fds', 'process_start_time_seconds'):
            assert value(text, family) > 0


# -- outbound calls ------------------------------------------------------------------------------

BACKEND = ['SERVER backend 0', r'  ROUTE /thing/(\w+)$', '    GET handlers.thing',
           r'  ROUTE /teapot/(\w+)$', '    GET handlers.teapot']


def front(url):
    return ['SERVER front 0', '  METRICS /metrics', r'  ROUTE /relay/(\w+)$',
            '    GET handlers.relay', f'CONNECTION other {url}', '  RESOURCE thing /thing/{name}']


def client_counts():
    text = rhc.metrics.exposition()
    counts = {outcome: series(text, 'rhc_client_calls_total', connection='other',
                              resource='thing', outcome=outcome)
              for outcome in ('ok', 'error', 'timeout', 'failed')}
    durations = series(text, 'rhc_client_call_duration_seconds_count', connection='other',
                       resource='thing')
    return ({outcome: sum(found.values()) for outcome, found in counts.items()},
            sum(durations.values()))


def test_calls_through_a_resource_are_counted_by_outcome():
    backend = load(BACKEND)
    before, timed = client_counts()
    service = load(front(f'http://127.0.0.1:{port_of(backend)}'))
    con = rhc.Connection(f'http://127.0.0.1:{port_of(service)}')
    for word in ('a', 'b', 'c'):
        assert rhc.wait(con.get(f'/relay/{word}'), timeout=5) == {'thing': word}
    for url in (f'http://127.0.0.1:{port_of(backend)}/teapot',     # /teapot/thing/d: a 404
                f'http://127.0.0.1:{refused_port()}'):
        again = load(front(url))
        with pytest.raises(rhc.CallError) as caught:
            rhc.wait(rhc.Connection(f'http://127.0.0.1:{port_of(again)}').get('/relay/d'),
                     timeout=5)
        assert caught.value.status == 500       # the front's answer to a failed call
    after, timed_after = client_counts()
    assert {k: after[k] - before[k] for k in after} == {'ok': 3, 'error': 1, 'timeout': 0,
                                                        'failed': 1}
    assert timed_after - timed == 5
    text = rhc.wait(rhc.Connection(f'http://127.0.0.1:{port_of(again)}').get('/metrics'),
                    timeout=5)
    promtool(text)
    assert series(text, 'rhc_client_calls_total', connection='other', resource='thing',
                  outcome='ok')


# -- the directive ---------------------------------------------------------------------------

def test_metrics_on_a_path_already_served_names_its_line():
    with pytest.raises(MicroError) as info:
        micro.parse(['SERVER s 0', '  OPENAPI /metrics', '  METRICS /metrics'])
    assert str(info.value) == "<lines>:3: METRICS path '/metrics' is taken by OPENAPI (at <lines>:2)"


def test_a_route_hidden_by_the_metrics_path_is_a_warning(caplog):
    model = micro.parse(['SERVER s 0', '  METRICS /metrics', '  ROUTE /met', '    GET handlers.ping'])
    loop = Loop()
    try:
        with caplog.at_level(logging.WARNING, logger='rhc.service'):
            Service(model, loop)
    finally:
        loop.close()
    assert '<lines>:2: ROUTE /met is hidden where it matches the METRICS path' in caplog.text


@pytest.mark.parametrize('lines, message', [
    (['METRICS /metrics'], '<lines>:1: METRICS before any SERVER'),
    (['SERVER s 0', 'METRICS metrics'], "<lines>:2: path must start with '/': 'metrics'"),
    (['SERVER s 0', 'METRICS /m?x'], '<lines>:2: path must not hold a query string'),
    (['SERVER s 0', 'METRICS'], "<lines>:2: missing parameter 'path' for METRICS"),
    (['SERVER s 0', 'METRICS /a', 'METRICS /b'], '<lines>:3: duplicate METRICS (first at <lines>:2)'),
])
def test_metrics_directive_errors(lines, message):
    with pytest.raises(MicroError) as caught:
        micro.parse(lines)
    assert str(caught.value).startswith(message)


def test_the_scrape_can_be_replaced_for_workers(serve):
    name = fresh()
    running = serve(service_lines(name))
    running.service.scrape = lambda: {'families': [
        {'name': 'merged_total', 'type': 'counter', 'help': 'Summed.', 'labels': [],
         'samples': [[[], 7]]}]}
    assert scrape(running.port()) == '# HELP merged_total Summed.\n# TYPE merged_total counter\n' \
                                     'merged_total 7\n'
