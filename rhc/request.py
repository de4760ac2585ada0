"""What a handler receives, and how what it returns becomes a response."""
import json
import logging
import os
import urllib.parse

from rhc import tracecontext
from rhc.errors import CallError, HTTPError
from rhc.logtext import loggable
from rhc.streams import Body
from rhc.task import invoke
from rhc.tracecontext import FLAG_RANDOM, TraceContext, new_trace_id

log = logging.getLogger('rhc.request')

_UNSET = object()    # `respond(result)`: no content given, so `result` is a return value
JSON = 'application/json; charset=utf-8'
TEXT = 'text/plain; charset=utf-8'
OCTETS = 'application/octet-stream'


def _json_encoder():
    """`json.dumps` without its per-call setup: the C encoder, made once."""
    make = getattr(json.encoder, 'c_make_encoder', None)
    if make is None:
        return json.dumps

    def default(value):
        raise TypeError(f'Object of type {type(value).__name__} is not JSON serializable')
    # No circular-reference markers: a shared markers dict can keep stale ids
    # after an error; a circular document fails with RecursionError instead.
    encode = make(None, default, json.encoder.encode_basestring_ascii, None, ': ', ', ',
                  False, False, True)

    def dumps(value):
        return ''.join(encode(value, 0))
    return dumps


to_json = _json_encoder()


def render(content, content_type=None):
    """(body bytes, content type) for a handler's content, per the SPEC table."""
    if content is None:
        return b'', content_type
    if isinstance(content, (dict, list)):
        return to_json(content).encode(), content_type or JSON
    if isinstance(content, str):
        return content.encode(), content_type or TEXT
    if isinstance(content, (bytes, bytearray, memoryview)):
        return bytes(content), content_type or OCTETS
    # Numbers, booleans and the like read naturally as JSON.
    return to_json(content).encode(), content_type or JSON


def to_response(result):
    """(status, content, headers) for what a handler returned."""
    if isinstance(result, tuple):
        if len(result) == 2:
            return result[0], result[1], None
        if len(result) == 3:
            return result
        raise TypeError(f'a handler returned a tuple of {len(result)}; expected (status, content[, headers])')
    if isinstance(result, int) and not isinstance(result, bool):
        return result, None, None
    return 200, result, None


class Request:
    """One HTTP request, as a handler sees it; also the way to answer it."""

    __slots__ = ('method', 'path', 'query_string', 'headers', 'body', 'id',
                 'request_id', 'peer', 'keep_alive', 'started', 'endpoint',
                 '_query', '_json', '_form', '_send', 'is_delayed',
                 'is_responded', 'status', 'version', 'bytes_in', 'task', '_trace', '_trace_id',
                 '__dict__')

    def __init__(self, method, path, query_string, headers, body, conn_id,
                 request_id, peer, keep_alive, started, send, version='HTTP/1.1', bytes_in=None):
        self.method = method
        self.path = path
        self.query_string = query_string
        self.headers = headers
        self.body = body
        self.id = conn_id
        self.request_id = request_id
        self.peer = peer
        self.keep_alive = keep_alive
        self.started = started
        self.endpoint = None
        self._send = send
        self.is_delayed = False
        self.is_responded = False
        self.status = None
        self.version = version
        self.task = None        # a coroutine handler that awaits runs as this task
        self._trace = None
        self._trace_id = None   # known before _trace when the log asked first
        self.bytes_in = len(body) if bytes_in is None else bytes_in   # what it took on the wire

    @property
    def query(self):
        """The query string as a dict; a repeated name keeps its last value."""
        try:
            return self._query
        except AttributeError:      # parsed on first use only
            self._query = dict(urllib.parse.parse_qsl(self.query_string, keep_blank_values=True))
            return self._query

    @property
    def trace(self):
        """The W3C trace this request belongs to: the caller's, or a new one."""
        if self._trace is None:
            self._trace = TraceContext.from_headers(self.headers, self._trace_id)
        return self._trace

    @property
    def trace_id(self):
        """The trace's id. Every access line asks for it, so a request that starts a trace
        gets only an id here; its TraceContext is made if a call needs one."""
        trace_id = self._trace_id
        if trace_id is None:
            if self._trace is None and dict.get(self.headers, 'traceparent') is None:
                trace_id = new_trace_id()
            else:
                trace_id = self.trace.trace_id
            self._trace_id = trace_id
        return trace_id

    def outbound_fields(self, skip=()):
        """The header lines every call made while handling this request carries:
        `traceparent` (a fresh parent id each time), `tracestate`, `X-Request-Id`."""
        if self._trace is None and dict.get(self.headers, 'traceparent') is None:
            # A trace that starts here: its id is all its headers need, no TraceContext.
            return tracecontext.outbound_fields(self.trace_id, FLAG_RANDOM, None,
                                                self.request_id, skip)
        return self.trace.outbound_fields(self.request_id, skip)

    @property
    def text(self):
        """The body decoded as UTF-8 (undecodable bytes replaced)."""
        return self.body.decode('utf-8', 'replace')

    @property
    def json(self):
        """The parsed JSON body; None when the body is empty; 400 when malformed."""
        try:
            return self._json
        except AttributeError:
            pass
        if not self.body:
            self._json = None
        else:
            try:
                self._json = json.loads(self.body)
            except ValueError as e:
                raise HTTPError(400, f'malformed JSON body: {e}') from None
        return self._json

    @property
    def form(self):
        """The body as a url-encoded form (dict; last value wins)."""
        try:
            return self._form
        except AttributeError:
            self._form = dict(urllib.parse.parse_qsl(self.text, keep_blank_values=True))
            return self._form

    @property
    def last_event_id(self):
        """The Last-Event-ID an SSE client reconnects with (None when it sent none)."""
        return self.headers.get('last-event-id')

    # The names the original rhc used.
    http_method = property(lambda self: self.method)
    http_resource = property(lambda self: self.path)
    http_query_string = property(lambda self: self.query_string)
    http_query = property(lambda self: self.query)
    http_headers = property(lambda self: self.headers)
    http_content = property(lambda self: self.text)

    def respond(self, code=200, content=_UNSET, headers=None, message=None, content_type=None):
        """Answer this request; only the first call counts.

        With one positional argument, as the original rhc allowed, that
        argument is read exactly like a handler's return value:
        `respond({'a': 1})`, `respond(404)`, `respond((201, body))`.
        """
        if self.is_responded:
            return
        self.is_responded = True
        try:
            if content is _UNSET:
                code, content, given = to_response(code)
                headers = headers if given is None else given
            if not isinstance(code, int) or isinstance(code, bool) or not 200 <= code <= 999:
                raise ValueError(f'invalid status {code!r}')
            if isinstance(content, Body):       # sent as it is made (rhc/streamwriter.py)
                body = content
            else:
                body, content_type = render(content, content_type)
        except Exception:
            # What the handler gave cannot be sent: answer 500 rather than never.
            eid = error_id()
            log.exception('cannot send the response: id=%s request_id=%s %s %s',
                          eid, self.request_id, self.method, loggable(self.path))
            code, headers, message = 500, None, None
            body, content_type = render({'error': 'internal server error', 'id': eid})
        self.status = code
        self._send(self, code, body, content_type, headers, message)

    def delay(self):
        """Tell rhc the handler will respond later (after an async call)."""
        self.is_delayed = True

    def call(self, fn, args=None, kwargs=None, on_success=None, on_success_code=None,
             on_error=None, on_none=None, on_none_404=False):
        """Run the async callable `fn(callback, *args, **kwargs)` and respond from its result.

        By default 200 with the result, or 500 (logged) on error; the `on_*`
        hooks take over: each is called as `hook(request, result)`.
        """
        self.delay()

        def done(rc, result):
            try:
                if rc == 0:
                    if result is None and on_none is not None:
                        return on_none(self, result)
                    if result is None and on_none_404:
                        return self.respond(404, {'error': 'not found'})
                    if on_success is not None:
                        answer = on_success(self, result)
                        if answer is not None and not self.is_responded:
                            status, content, headers = to_response(answer)
                            self.respond(status, content, headers)
                        return
                    return self.respond(on_success_code or 200, result)
                if on_error is not None:
                    return on_error(self, result)
                if isinstance(result, HTTPError):
                    return self.respond(result.status, result.document())
                raise result if isinstance(result, Exception) else CallError(str(result))
            except HTTPError as e:
                self.respond(e.status, e.document())
            except Exception:
                self.fail('async call %s failed' % getattr(fn, '__name__', fn))
        return invoke(fn, done, args, kwargs)

    def fail(self, what, error=None):
        """Answer 500 with a fresh id, and log that id beside the traceback
        (of `error`, else of the exception being handled)."""
        eid = error_id()
        log.error('%s: id=%s request_id=%s %s %s', what, eid, self.request_id,
                  self.method, loggable(self.path), exc_info=error or True)
        self.respond(500, {'error': 'internal server error', 'id': eid})

    def __repr__(self):
        return f'<Request {self.method} {self.path} id={self.id} request_id={self.request_id}>'



def error_id():
    return os.urandom(8).hex()
