"""What rhc records of each request it answers and each call it makes: metrics, the access log.

Each server has an `Observer` (rhc.service makes it, as `server.observer`);
the server calls `observer.finished(...)` once per answer. That costs one
dict lookup for the request's metric series (resolved once per endpoint,
method and status, so the hot path never builds label tuples) and, unless
the route is SILENT, one access line: through rhc's own log handler
directly when it is the only one listening (rhc.logs explains when), else
as a `logging` record of `rhc.access` that carries the request's fields.

The families live in the default registry (`rhc.metrics.REGISTRY`), beside
the ones handlers add with `rhc.metrics.counter(...)`. Requests are counted
only when the service has a METRICS line (`count=True`). `route` is the
ROUTE pattern, "" when no route matched, so label values stay bounded; a
method no route knows counts as "other". Built-in routes marked silent (the
metrics route itself, probes) are not counted at all: a scrape or a
draining READY 503 is not the service's traffic, nor its errors.
"""
import logging

from rhc import logs, metrics
from rhc.exposition import CONTENT_TYPE, render
from rhc.logtext import loggable
from rhc.routing import ALWAYS
from rhc.routing import BuiltinEndpoint

access_log = logging.getLogger('rhc.access')
ACCESS_LOGGER = access_log.name
ACCESS_FORMAT = 'conn=%s request_id=%s %s %s %s %.2fms in=%d out=%d trace=%s'
INFO = logging.INFO

METHODS = frozenset({'GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'CONNECT',
                     'TRACE'})
OTHER_METHOD = 'other'

REQUESTS = metrics.counter(
    'rhc_requests_total', 'Requests answered, by server, ROUTE pattern, method and status.',
    labels=('server', 'route', 'method', 'status'))
REQUEST_DURATION = metrics.histogram(
    'rhc_request_duration_seconds',
    'Seconds from the first byte of a request to its answer, by server, ROUTE pattern and method.',
    labels=('server', 'route', 'method'))
IN_FLIGHT = metrics.gauge('rhc_requests_in_flight', 'Requests being handled.', labels=('server',))
CONNECTIONS = metrics.gauge('rhc_connections_open', 'Client connections open.', labels=('server',))
CLIENT_CALLS = metrics.counter(
    'rhc_client_calls_total',
    'Calls made through a micro CONNECTION, by connection, RESOURCE and outcome '
    '(ok, error: answered with an error status, timeout, failed: no answer).',
    labels=('connection', 'resource', 'outcome'))
CLIENT_CALL_DURATION = metrics.histogram(
    'rhc_client_call_duration_seconds', 'Seconds a call through a micro CONNECTION took.',
    labels=('connection', 'resource'))


def peer_text(peer):
    """`host:port` (`[host]:port` for IPv6) of a peer address, for a log field."""
    if type(peer) is tuple and len(peer) >= 2:
        host = peer[0]
        return f'[{host}]:{peer[1]}' if ':' in host else f'{host}:{peer[1]}'
    return None if peer is None else str(peer)


class Observer:
    """Records each request one server answers: its metric series, its access line."""

    def __init__(self, server_name, router, log_requests=True, count=False):
        self.server_name = server_name
        self.router = router
        self.log_requests = log_requests
        self.count = count
        self.recording = log_requests or count      # False: `finished` need not be called
        self.series = {}            # (endpoint, method, status) -> (inc, observe), or None
        self.routes = {None: ''}    # endpoint -> its ROUTE pattern
        # (from, until, INFO enabled, the fast handler, its stamp, its text_prefix), for
        # a millisecond of the loop's clock: see `finished`
        self._cached = (1.0, 0.0, False, None, '', '')

    def finished(self, protocol, request, status, bytes_out):
        """`request` was answered `status` with `bytes_out` bytes on `protocol`'s connection."""
        endpoint = request.endpoint
        now = protocol.clock()
        duration = now - request.started
        if self.count:
            key = (endpoint, request.method, status)
            try:
                series = self.series[key]
            except KeyError:
                series = self._series(key)
            if series is not None:
                series[0]()
                series[1](duration)
        # A silent route logs only its failures; a probe (ALWAYS) not even those.
        if not self.log_requests or (endpoint is not None and endpoint.silent and (
                status < 400 or endpoint.silent is ALWAYS)):
            return
        # Whether to log, where, and the stamp: read again only when the loop's clock
        # passes a millisecond. A change to `logging` reaches access lines within that.
        cached = self._cached
        if not cached[0] <= now < cached[1]:
            cached = self._refresh(now)
        if not cached[2]:
            return
        path = request.path
        if not path.isprintable():
            path = loggable(path)
        handler = cached[3]
        if handler is None or handler.json:
            self._log(protocol, request, endpoint, status, duration, bytes_out, handler, path)
            return
        stamp, prefix = cached[4], cached[5]
        # ACCESS_FORMAT, written as an f-string: a third faster than %.
        handler.add(f'{stamp}{prefix}conn={protocol.id} '
                    f'request_id={request.request_id} {request.method} {path} {status} '
                    f'{duration * 1000:.2f}ms in={request.bytes_in} out={bytes_out} '
                    f'trace={request.trace_id}')

    def _refresh(self, now):
        handler = logs.fast_handler(access_log)
        if handler is None or handler.json:
            stamp = prefix = ''
        else:
            stamp, prefix = handler.stamp(), handler.text_prefix(ACCESS_LOGGER)
        start = int(now * 1000) / 1000
        self._cached = (start, start + 0.001, access_log.isEnabledFor(INFO), handler, stamp,
                        prefix)
        return self._cached

    def _log(self, protocol, request, endpoint, status, duration, bytes_out, handler, path):
        """The access line as JSON, or as a logging record when rhc's handler is not alone."""
        trace_id = request.trace_id
        args = (protocol.id, request.request_id, request.method, path, status, duration * 1000,
                request.bytes_in, bytes_out, trace_id)
        # In logs.REQUEST_FIELDS order.
        values = (protocol.id, request.request_id, trace_id,
                  request.method, path, self.route_of(endpoint), status, args[5],
                  request.bytes_in, bytes_out, peer_text(protocol.peer))
        if handler is not None:
            handler.add(logs.json_request_line(handler.stamp(), ACCESS_LOGGER,
                                               ACCESS_FORMAT % args, values))
        else:
            fields = dict(zip(logs.REQUEST_FIELDS, values))
            fields['duration_ms'] = round(args[5], 3)
            access_log.info(ACCESS_FORMAT, *args, extra=fields)

    def route_of(self, endpoint):
        """The ROUTE pattern (or built-in path) that `endpoint` serves; "" for None."""
        try:
            return self.routes[endpoint]
        except KeyError:
            pass
        pattern = ''
        for route in list(self.router.builtins.values()) + self.router.routes:
            if endpoint in route.endpoints.values():
                pattern = route.pattern
                break
        self.routes[endpoint] = pattern
        return pattern

    def _series(self, key):
        endpoint, method, status = key
        if isinstance(endpoint, BuiltinEndpoint) and endpoint.silent:
            series = None
        else:
            route = self.route_of(endpoint)
            label = method if method in METHODS else OTHER_METHOD
            series = (REQUESTS.labels(self.server_name, route, label, str(status)).inc,
                      REQUEST_DURATION.labels(self.server_name, route, label).observe)
        if method in METHODS:       # a client's made-up methods must not grow the cache
            self.series[key] = series
        return series


# -- outbound calls ------------------------------------------------------------------

_client_series = {}     # (connection, resource) -> {outcome: inc}, observe


def call_outcome(rc, result):
    if rc == 0:
        return 'ok'
    if getattr(result, 'status', None) is not None:
        return 'error'
    if getattr(result, 'message', None) == 'timeout':
        return 'timeout'
    return 'failed'


def client_call(connection, resource, rc, result, seconds):
    """Count one finished call of RESOURCE `resource` on CONNECTION `connection`."""
    key = (connection, resource)
    found = _client_series.get(key)
    if found is None:
        found = _client_series[key] = (
            {outcome: CLIENT_CALLS.labels(connection, resource, outcome).inc
             for outcome in ('ok', 'error', 'timeout', 'failed')},
            CLIENT_CALL_DURATION.labels(connection, resource).observe)
    counters, observe = found
    counters[call_outcome(rc, result)]()
    observe(seconds)


# -- what a scrape shows ----------------------------------------------------------------

def snapshot(servers):
    """This process's metrics as plain data (rhc.exposition), the gauges of `servers` read now.

    `servers` is {name: rhc.server.Server}. Under `--workers` a worker writes
    this down for its master, which sums the workers (rhc.scrapes).
    """
    for name, server in servers.items():
        connections = list(server.connections)
        CONNECTIONS.labels(name).set(len(connections))
        IN_FLIGHT.labels(name).set(sum(1 for c in connections if c.current is not None))
    return metrics.snapshot()


def metrics_handler(scrape):
    """A built-in route's handler answering the text format of `scrape()`, a snapshot."""
    headers = {'Content-Type': CONTENT_TYPE}

    def answer(request):
        return 200, render(scrape()).encode('utf-8'), headers
    return answer
