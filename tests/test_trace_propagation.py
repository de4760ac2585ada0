"""W3C trace context carried from a request to every call made while handling it (SPEC §10).

OpenTelemetry's own propagator (TraceContextTextMapPropagator) writes the
traceparent we send in and reads the ones rhc sends on: same trace id, a
fresh parent id each call, tracestate passed through, X-Request-Id passed
on. From a plain handler, through a request.call chain and a Task chain, a
RESOURCE call, and from a coroutine; concurrent requests never mix.
"""
import pytest
from opentelemetry import trace as otel_trace
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags, TraceState
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

import rhc
import rhc.micro

import trace_handlers
from client_support import load, port_of

PROPAGATOR = TraceContextTextMapPropagator()
ROUTES = ['plain', 'chain', 'via_resource', 'coroutine']


@pytest.fixture
def front():
    backend = port_of(load(['SERVER backend 0', 'ROUTE /record$', 'GET trace_handlers.record']))
    url = f'http://127.0.0.1:{backend}'
    lines = ['SERVER front 0', *[line for name in ROUTES + ['own_header', 'untraced'] for line in
                                 (f'ROUTE /{name}$', f'GET trace_handlers.{name}')],
             'CONFIG backend_url', f'CONNECTION backend {url}', 'RESOURCE record /record']
    service = load(lines, config={'backend_url': url})
    trace_handlers.SEEN.clear()
    return rhc.Connection(f'http://127.0.0.1:{port_of(service)}')


def otel_headers(trace_id=0x0af7651916cd43dd8448eb211c80319c, span_id=0xb7ad6b7169203331,
                 state='congo=t61rcWkgMzE,rojo=00f067aa0ba902b7'):
    """A traceparent/tracestate as OpenTelemetry writes them for a sampled span."""
    context = otel_trace.set_span_in_context(NonRecordingSpan(SpanContext(
        trace_id, span_id, is_remote=True, trace_flags=TraceFlags(TraceFlags.SAMPLED),
        trace_state=TraceState.from_header([state]))))
    carrier = {}
    PROPAGATOR.inject(carrier, context=context)
    return carrier


def read(traceparent, tracestate=None):
    """(trace id, span id, sampled, tracestate) as OpenTelemetry reads a header we sent."""
    carrier = {'traceparent': traceparent}
    if tracestate:
        carrier['tracestate'] = tracestate
    span = otel_trace.get_current_span(PROPAGATOR.extract(carrier))
    context = span.get_span_context()
    return (format(context.trace_id, '032x'), format(context.span_id, '016x'),
            context.trace_flags.sampled, context.trace_state.to_header())


@pytest.mark.parametrize('route', ROUTES)
def test_every_call_joins_the_callers_trace(front, route):
    sent = otel_headers()
    sent['X-Request-Id'] = f'req-{route}'
    answer = rhc.wait(front.get(f'/{route}', headers=sent), timeout=10)
    assert answer == {'trace_id': '0af7651916cd43dd8448eb211c80319c'}
    assert len(trace_handlers.SEEN) >= 1
    parents = set()
    for traceparent, tracestate, request_id in trace_handlers.SEEN:
        trace_id, span_id, sampled, state = read(traceparent, tracestate)
        assert trace_id == '0af7651916cd43dd8448eb211c80319c' and sampled
        assert state == 'congo=t61rcWkgMzE,rojo=00f067aa0ba902b7'
        assert request_id == f'req-{route}'
        assert span_id != 'b7ad6b7169203331'
        parents.add(span_id)
    assert len(parents) == len(trace_handlers.SEEN)     # a fresh parent id each call


def test_a_request_without_a_valid_traceparent_starts_a_trace(front):
    for headers in ({}, {'traceparent': '00-00000000000000000000000000000000-b7ad6b7169203331-01'},
                    {'traceparent': 'not a traceparent', 'tracestate': 'a=b'}):
        trace_handlers.SEEN.clear()
        answer = rhc.wait(front.get('/coroutine', headers=headers), timeout=10)
        trace_id = answer['trace_id']
        assert len(trace_id) == 32 and trace_id != '0' * 32
        for traceparent, tracestate, _ in trace_handlers.SEEN:
            assert read(traceparent)[0] == trace_id
            assert tracestate is None       # an invalid traceparent's tracestate is dropped


def test_concurrent_requests_keep_their_own_traces(front):
    ids = [f'{n:032x}' for n in range(1, 21)]

    async def many():
        return await rhc.gather(*(front.get('/coroutine', headers=otel_headers(int(i, 16)))
                                  for i in ids))
    answers = rhc.wait(many(), timeout=20)
    assert [a['trace_id'] for a in answers] == ids
    seen = sorted(read(tp)[0] for tp, _, _ in trace_handlers.SEEN)
    assert seen == sorted(ids * 3)      # three calls per request, each in its own trace


def test_a_callers_own_header_wins(front):
    mine = '00-11111111111111111111111111111111-2222222222222222-01'
    rhc.wait(front.get(f'/own_header?mine={mine}', headers=otel_headers()), timeout=10)
    [(traceparent, _, request_id)] = trace_handlers.SEEN
    assert (traceparent, request_id) == (mine, 'chosen-by-the-caller')


def test_a_call_outside_any_request_carries_no_trace(front):
    backend = rhc.micro.config.backend_url
    rhc.wait(rhc.Connection(backend).get('/record'), timeout=5)
    assert trace_handlers.SEEN == [(None, None, None)]


def test_a_connection_made_with_trace_false_passes_nothing_on(front):
    answer = rhc.wait(front.get('/untraced', headers=otel_headers()), timeout=10)
    assert answer == {'trace_id': '0af7651916cd43dd8448eb211c80319c'}
    assert trace_handlers.SEEN == [(None, None, None)] * 2
