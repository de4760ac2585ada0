"""rhc/dispatch.py with a request that has no socket behind it.

The request is a real `rhc.request.Request` whose `send` records what it is
given, so these tests see exactly what the server would be asked to write:
the SPEC §3 return table, HTTPError and other exceptions, delayed and
explicit answers, AUTH, and where CONTENT values come from.
"""
import json
import logging
import re
from typing import NamedTuple

import pytest

import micro
import rhc
from rhc.dispatch import authorized, gather_fields, run_endpoint
from rhc.request import JSON, OCTETS, TEXT, Request
from rhc.routing import Router

FORM = 'application/x-www-form-urlencoded'
ERROR_ID = re.compile(r'[0-9a-f]{16}')


class Sent(NamedTuple):
    """One call of the request's `send`: what the server would write."""
    status: int
    body: bytes
    content_type: str | None
    headers: dict | None
    reason: str | None

    @property
    def document(self):
        assert self.content_type == JSON
        return json.loads(self.body)


def make_request(method='GET', path='/x', query_string='', headers=None, body=b''):
    """(Request, list of Sent) for a request as the server would build it."""
    sent = []

    def send(request, status, body, content_type, headers, reason):
        assert request is made
        sent.append(Sent(status, body, content_type, headers, reason))
    made = Request(method, path, query_string, dict(headers or {}), body, 'c1', 'r1',
                   ('127.0.0.1', 5555), True, 0.0, send)
    return made, sent


def endpoint_for(handler, *lines, verb='GET'):
    """(endpoint, route) of a one-route server whose `verb` is `handler`, then `lines`."""
    model = micro.parse(['SERVER api 0', r'ROUTE /x(?:/([^/]+))?$', f'{verb} {handler}', *lines])
    route = Router(model.servers['api'], model.enums).routes[0]
    return route.endpoints[verb], route


def serve(handler, *lines, verb='GET', groups=(), **request):
    """Dispatch one request to `handler`; the list of what it sent."""
    endpoint, route = endpoint_for(handler, *lines, verb=verb)
    req, sent = make_request(method=verb, **request)
    run_endpoint(req, endpoint, route, groups)
    return sent


def answer(handler, *lines, **kwargs):
    """The one thing sent for one request to `handler`."""
    [sent] = serve(handler, *lines, **kwargs)
    return sent


def assert_internal_error(sent, caplog, what):
    """A 500 with a fresh id, and that id logged beside `what` and a traceback."""
    assert (sent.status, sent.headers, sent.reason) == (500, None, None)
    document = sent.document
    assert list(document) == ['error', 'id'] and document['error'] == 'internal server error'
    assert ERROR_ID.fullmatch(document['id'])
    [record] = [r for r in caplog.records if document['id'] in r.getMessage()]
    assert record.name == 'rhc.request' and record.levelno == logging.ERROR
    assert record.getMessage().startswith(what)
    assert record.getMessage().endswith(f"id={document['id']} request_id=r1 GET /x")
    assert record.exc_info is not None
    return record


# -- the return table (SPEC §3) ---------------------------------------------------

@pytest.mark.parametrize('handler, expected', [
    ('ret_dict', (200, b'{"kind": "dict"}', JSON, None)),
    ('ret_list', (200, b'[1, "two", 3]', JSON, None)),
    ('ret_str', (200, 'héllo'.encode(), TEXT, None)),
    ('ret_bytes', (200, b'\x00\x01\xff', OCTETS, None)),
    ('ret_none', (200, b'', None, None)),
    ('ret_int', (202, b'', None, None)),
    ('ret_int_204', (204, b'', None, None)),
    ('ret_pair', (201, b'{"created": true}', JSON, None)),
    ('ret_triple', (203, b'with headers', TEXT, {'X-Extra': 'yes', 'Cache-Control': 'no-store'})),
])
def test_return_value_becomes_the_response(handler, expected):
    assert answer(f'handlers.{handler}') == Sent(*expected, None)


@pytest.mark.parametrize('handler, logged', [
    ('ret_four_tuple', 'handler handlers.ret_four_tuple failed: '),
    ('ret_string_status', 'cannot send the response: '),
    ('ret_huge_status', 'cannot send the response: '),
    ('ret_unserializable', 'cannot send the response: '),
])
def test_a_return_value_that_cannot_be_sent_is_500_with_a_logged_id(handler, logged, caplog):
    assert_internal_error(answer(f'handlers.{handler}'), caplog, logged)


def test_the_four_tuple_says_what_was_wrong(caplog):
    record = assert_internal_error(answer('handlers.ret_four_tuple'), caplog, 'handler')
    assert str(record.exc_info[1]) == ('a handler returned a tuple of 4; '
                                       'expected (status, content[, headers])')


# -- errors -----------------------------------------------------------------------

def raise_with_field(request):
    raise rhc.HTTPError(422, 'name: too short', field='name')


@pytest.mark.parametrize('handler, status, document', [
    ('handlers.http_error', 418, {'error': 'short and stout'}),
    ('handlers.http_error_no_message', 409, {'error': None}),
    (f'{__name__}.raise_with_field', 422, {'error': 'name: too short', 'field': 'name'}),
])
def test_http_error_is_its_status_and_error_document(handler, status, document, caplog):
    sent = answer(handler)
    assert (sent.status, sent.document) == (status, document)
    assert caplog.records == []


def test_any_other_exception_is_500_with_an_id_that_is_logged(caplog):
    record = assert_internal_error(answer('handlers.boom'), caplog,
                                   'handler handlers.boom failed: ')
    assert repr(record.exc_info[1]) == "RuntimeError('kaboom')"


def test_each_failure_gets_its_own_id(caplog):
    first, second = answer('handlers.boom'), answer('handlers.boom')
    assert first.document['id'] != second.document['id']


# -- answering later, or explicitly -------------------------------------------------

HELD = []


def hold(request):
    request.delay()
    HELD.append(request)
    return 'ignored: the handler said it answers later'


def delay_then_raise(request):
    request.delay()
    raise ValueError('broke after delaying')


def test_delayed_handler_answers_later():
    HELD.clear()
    sent = serve(f'{__name__}.hold')
    assert sent == [] and HELD[0].is_delayed and not HELD[0].is_responded
    HELD[0].respond(200, {'late': True})
    HELD[0].respond(500, 'ignored')
    assert sent == [Sent(200, b'{"late": true}', JSON, None, None)]


def test_a_later_answer_that_cannot_be_sent_is_500(caplog):
    HELD.clear()
    sent = serve(f'{__name__}.hold')
    HELD[0].respond(200, {'a': object()})
    assert_internal_error(sent[0], caplog, 'cannot send the response: ')
    assert len(sent) == 1


def test_delayed_handler_that_raises_is_still_answered(caplog):
    assert_internal_error(answer(f'{__name__}.delay_then_raise'), caplog, 'handler ')


def test_respond_inside_the_handler_wins_over_what_it_returns():
    assert serve('handlers.respond_twice') == [Sent(201, b'{"first": true}', JSON, None, None)]


def test_respond_with_message_and_content_type():
    assert answer('handlers.respond_message') == Sent(299, b'custom', 'text/x-custom', None,
                                                     'Fine Thanks')


@pytest.mark.parametrize('kind, expected', [
    ('dict', (200, b'{"a": 1}', JSON, None)),
    ('int', (404, b'', None, None)),
    ('pair', (201, b'{"made": true}', JSON, None)),
    ('triple', (202, b'queued', TEXT, {'X-Queue': '7'})),
    ('none', (200, b'', None, None)),
])
def test_respond_with_one_positional_reads_it_as_a_return_value(kind, expected):
    assert answer('handlers.respond_positional', query_string=f'kind={kind}') == \
        Sent(*expected, None)


# -- AUTH -------------------------------------------------------------------------

CALLED = []


def record_call(request, *args, **kwargs):
    CALLED.append((args, kwargs))
    return {'args': list(args), 'kwargs': kwargs}


def test_auth_false_is_401_and_the_handler_never_runs():
    CALLED.clear()
    endpoint, route = endpoint_for(f'{__name__}.record_call', 'AUTH handlers.deny')
    req, sent = make_request()
    assert authorized(req, endpoint) is False
    assert sent == [Sent(401, b'{"error": "unauthorized"}', JSON, None, None)]
    req, sent = make_request()
    run_endpoint(req, endpoint, route, ())
    assert [s.status for s in sent] == [401] and CALLED == []
    req, sent = make_request()
    run_endpoint(req, endpoint, route, (), check_auth=False)      # already checked
    assert [s.status for s in sent] == [200] and CALLED == [((), {})]


def test_auth_true_lets_the_handler_run():
    endpoint, route = endpoint_for('handlers.ping', 'AUTH handlers.allow_token')
    req, sent = make_request(headers={'x-token': 'secret'})
    assert authorized(req, endpoint) is True and sent == []
    run_endpoint(req, endpoint, route, ())
    assert sent[0].document == {'ping': 'pong'}


def test_no_auth_is_authorized():
    endpoint, _ = endpoint_for('handlers.ping')
    req, sent = make_request()
    assert authorized(req, endpoint) is True and sent == []


def test_auth_raising_http_error_answers_its_status():
    sent = answer('handlers.ping', 'AUTH handlers.auth_forbidden')
    assert (sent.status, sent.document) == (403, {'error': 'forbidden'})


def test_auth_raising_anything_else_is_500(caplog):
    # The log line names the endpoint the check guards; the traceback names the check.
    record = assert_internal_error(answer('handlers.ping', 'AUTH handlers.auth_broken'), caplog,
                                   'AUTH handlers.ping failed: ')
    assert repr(record.exc_info[1]) == "KeyError('no such session')"


# -- arguments ----------------------------------------------------------------------

def test_groups_are_coerced_and_passed_positionally():
    sent = answer(f'{__name__}.record_call', 'ARG int', groups=('42',))
    assert sent.document == {'args': [42], 'kwargs': {}}


def test_arg_failure_is_400_naming_the_field():
    sent = answer(f'{__name__}.record_call', 'ARG int', groups=('x',))
    assert (sent.status, sent.document) == (400, {'error': 'arg1: expected an integer',
                                                  'field': 'arg1'})


CONTENT = ['CONTENT name', 'CONTENT age int is_required=no default=7',
           'CONTENT note is_required=no']


def fields(**request):
    """The keyword arguments gather_fields finds for CONTENT above."""
    endpoint, _ = endpoint_for('handlers.typed', *CONTENT, verb='POST')
    req, _ = make_request(method='POST', **request)
    return gather_fields(req, endpoint.fields)


def as_json(document):
    return {'headers': {'content-type': 'application/json'}, 'body': json.dumps(document).encode()}


@pytest.mark.parametrize('request_, kwargs', [
    (as_json({'name': 'json', 'age': 3}), {'name': 'json', 'age': 3}),
    ({'query_string': 'name=query&age=4'}, {'name': 'query', 'age': 4}),
    ({'headers': {'content-type': FORM}, 'body': b'name=form&age=5'}, {'name': 'form', 'age': 5}),
    # JSON first, then the query, then a form: each field from the first that has it
    ({**as_json({'name': 'json'}), 'query_string': 'name=query&age=4'},
     {'name': 'json', 'age': 4}),
    ({'headers': {'content-type': FORM + '; charset=utf-8'}, 'body': b'name=form&note=n',
      'query_string': 'name=query'}, {'name': 'query', 'age': 7, 'note': 'n'}),
    # a body without a content type is read as JSON
    ({'body': b'{"name": "untyped"}'}, {'name': 'untyped', 'age': 7}),
    ({'query_string': 'name=&note=a&note=b'}, {'name': '', 'age': 7, 'note': 'b'}),
], ids=['json', 'query', 'form', 'json-then-query', 'query-then-form', 'untyped-body',
        'last-query-value'])
def test_gather_fields_sources_in_order(request_, kwargs):
    assert fields(**request_) == kwargs


@pytest.mark.parametrize('request_, document', [
    ({'body': b'{"name": '}, {'error': 'malformed JSON body: Expecting value: line 1 column 10 '
                                        '(char 9)'}),
    (as_json(['name']), {'error': 'the JSON body must be an object'}),
    (as_json('name'), {'error': 'the JSON body must be an object'}),
    ({'query_string': 'age=7'}, {'error': 'missing required field: name', 'field': 'name'}),
    (as_json({'age': 1}), {'error': 'missing required field: name', 'field': 'name'}),
    (as_json({'name': 'n', 'age': 'seven'}), {'error': 'age: expected an integer', 'field': 'age'}),
    ({'query_string': 'name=n&age=1.5'}, {'error': 'age: expected an integer', 'field': 'age'}),
], ids=['malformed-json', 'json-list', 'json-string', 'missing-in-query', 'missing-in-json',
        'bad-json-value', 'bad-query-value'])
def test_field_failures_are_400(request_, document):
    sent = answer('handlers.typed', *CONTENT, verb='POST', **request_)
    assert (sent.status, sent.document) == (400, document)


def test_fields_reach_the_handler_as_keywords_after_the_groups():
    sent = answer(f'{__name__}.record_call', 'ARG int', *CONTENT, verb='POST', groups=('9',),
                  query_string='name=n')
    assert sent.document == {'args': [9], 'kwargs': {'name': 'n', 'age': 7}}


def test_malformed_json_read_by_the_handler_is_400():
    sent = answer('handlers.just_json', verb='POST', body=b'not json')
    assert (sent.status, sent.document) == (
        400, {'error': 'malformed JSON body: Expecting value: line 1 column 1 (char 0)'})
