"""One outbound call as a protocol: borrow or open a connection, send, read, report once.

An `Exchange` moves bytes between its transport and the sans-IO response
parser, and never touches a socket. It reports `(0, result)` or
`(1, CallError)` to its callback exactly once, unless it is cancelled, and
then never. Everything it holds is let go when it finishes, so a finished
call leaves nothing for the cycle collector.
"""
import errno
import logging

from rhc import http
from rhc.errors import CallError
from rhc.response import Response, decode_body, result_of
from rhc.transport import connect

log = logging.getLogger('rhc.client')

# Sent again on a fresh socket when a pooled one turns out dead: sending these
# twice does no harm. Anything else is sent at most once.
IDEMPOTENT = frozenset(('GET', 'HEAD', 'PUT', 'DELETE', 'OPTIONS'))


class _Discarded:
    """The protocol of a connection an exchange has let go of: it hears nothing more."""

    def data_received(self, data):
        pass

    def eof_received(self):
        return False

    def connection_lost(self, exc):
        pass

    def pause_writing(self):
        pass

    def resume_writing(self):
        pass


DISCARDED = _Discarded()


def connect_failure(exc):
    """What a call's CallError says when its connection could not be made."""
    err = getattr(exc, 'errno', None)
    if err == errno.ECONNREFUSED:
        return 'connection refused'
    if type(exc).__module__ == 'ssl':
        return f'ssl error: {getattr(exc, "reason", None) or exc}'
    return f'cannot connect: {exc.strerror or exc}'


class Exchange:
    """One call: connect (or reuse), send, receive, report once."""

    __slots__ = ('connection', 'loop', 'callback', 'method', 'target', 'out', 'is_json',
                 'timeout', 'wrapper', 'handler', 'full', 'done', 'transport', 'parser',
                 'connector', 'reused', 'received', 'sent_before', 'timer', 'last_active', 'origin')

    def __init__(self, connection, loop, origin, callback, method, target, out, is_json,
                 timeout, wrapper, handler, full=False):
        """`out` is the request, head and body (or the CallError that building it made);
        `origin` the request being served that the call is made for, if any: the
        callback runs as part of it again, so calls it makes carry the same trace."""
        self.connection = connection
        self.loop = loop
        self.origin = origin
        self.callback = callback
        self.method = method
        self.target = target
        self.out = out
        self.is_json = is_json
        self.timeout = timeout
        self.wrapper = wrapper
        self.handler = handler
        self.full = full
        self.done = False
        self.transport = None
        self.parser = None
        self.connector = None
        self.reused = False
        self.received = 0
        self.sent_before = None  # the transport's `sent` when the request was written
        self.timer = None
        self.last_active = 0.0

    # -- starting -----------------------------------------------------------------

    def start(self, error=None):
        if self.done:       # cancelled while the host was being resolved
            return
        if error is None and type(self.out) is CallError:
            error = self.out
        if error is not None:
            return self.finish(1, error)
        self.last_active = self.loop.time()
        if self.timeout:
            self.timer = self.loop.call_later_coarse(self.timeout, self._on_timer)
        idle = self.connection.idle.take()
        if idle is not None:
            self.reused = True
            self._use(*idle)
        else:
            self._open()

    def _open(self):
        connection = self.connection
        connection.connects += 1
        self.connector = connect(self.loop, connection.addresses, self, connection.make_transport)

    def _use(self, transport, parser):
        self.transport = transport
        self.parser = parser
        parser.expect(self.method)
        transport.set_protocol(self)
        self.sent_before = transport.sent
        transport.write(self.out)

    # -- what the transport calls ----------------------------------------------------

    def connection_failed(self, exc):
        self.connector = None
        if self.done:
            return
        self.finish(1, CallError(connect_failure(exc)))

    def connection_made(self, transport):
        self.connector = None
        self._use(transport, http.ResponseParser(max_body=self.connection.max_body))

    def data_received(self, data):
        self.last_active = self.loop.time()
        self.received += len(data)
        parser = self.parser
        parser.feed(data)
        try:
            response = parser.next_response()
        except http.ProtocolError as e:
            return self.fail(f'malformed response: {e.message}')
        if response is not None:
            self._complete(response)

    def eof_received(self):
        parser = self.parser
        parser.feed_eof()
        try:
            response = parser.next_response()
        except http.ProtocolError as e:
            self._broken(e.message)
            return False
        if response is None:
            self._broken('connection closed mid-response')
        else:
            self._complete(response)
        return False

    def connection_lost(self, exc):
        if self.done:
            return
        if exc is None:
            return self._broken('connection closed mid-response')
        reason = getattr(exc, 'reason', None)
        if reason:
            return self._broken(f'ssl error: {reason}')
        self._broken(f'connection reset: {exc}')

    def pause_writing(self):
        pass        # a request is written whole; there is nothing more to hold back

    def resume_writing(self):
        pass

    # -- ending ------------------------------------------------------------------------

    def _let_go(self):
        """The transport, detached from this exchange (None if there is none)."""
        transport, self.transport = self.transport, None
        self.parser = None
        if transport is not None:
            transport.set_protocol(DISCARDED)
        return transport

    def _broken(self, reason):
        """The connection failed. A reused one that never answered is retried once on
        a fresh socket, if sending the request again is safe: the method is
        idempotent, or not one byte of it was written."""
        if self.reused and self.received == 0 and not self.done and (
                self.method in IDEMPOTENT or self._nothing_sent()):
            transport = self._let_go()
            if transport is not None:
                transport.abort()
            self.reused = False
            return self._open()
        self.fail(reason)

    def _nothing_sent(self):
        transport = self.transport
        return transport is not None and transport.sent == self.sent_before

    def _complete(self, response):
        parser, transport = self.parser, self.transport
        self.parser = self.transport = None
        if response.keep_alive and not parser.in_progress:
            self.connection.idle.give(transport, parser)    # it hands the transport on
        else:
            transport.set_protocol(DISCARDED)
            transport.close()
        try:
            result = self.evaluate(response)
        except CallError as e:
            return self.finish(1, e)
        except Exception as e:
            log.exception('evaluating the response of %s %s failed', self.method, self.target)
            return self.finish(1, CallError(f'{type(e).__name__}: {e}'))
        self.finish(0, result)

    def evaluate(self, response):
        """The result of a response: a custom `handler`, the whole answer when
        `full`, else a 2xx body decoded as asked (anything else is a CallError)."""
        if self.handler is not None:
            return self.handler(response)
        headers = response.headers
        body = response.body
        coding = dict.get(headers, 'content-encoding')      # keys are lower-case already
        if coding is not None:
            body = decode_body(body, coding, self.connection.max_body)
        if self.full:
            return Response(response.status, response.reason, headers, body)
        content_type = dict.get(headers, 'content-type')
        if not 200 <= response.status < 300:
            try:
                detail = result_of(body, content_type, self.is_json)
            except CallError:
                detail = body.decode('utf-8', 'replace')
            text = body.decode('utf-8', 'replace')
            raise CallError(f'{response.status} {response.reason}'
                            + (f': {text[:500]}' if text else ''),
                            status=response.status, body=detail)
        try:
            result = result_of(body, content_type, self.is_json)
        except CallError as e:
            e.status = response.status
            e.body = body
            raise
        if self.wrapper is not None and result is not None:
            result = self.wrapper(result)
        return result

    def _on_timer(self):
        self.timer = None
        if self.done:
            return
        idle = self.loop.time() - self.last_active
        if idle < self.timeout:
            self.timer = self.loop.call_later_coarse(self.timeout - idle, self._on_timer)
            return
        self.fail('timeout')

    def fail(self, reason):
        self.finish(1, CallError(reason))

    def cancel(self):
        """Give up on the call: its socket closes and its callback never runs."""
        if self.done:
            return
        self.callback = None
        self.finish(1, None)

    def finish(self, rc, result):
        if self.done:
            return
        self.done = True
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        if self.connector is not None:
            self.connector.cancel()
            self.connector = None
        if rc:
            transport = self._let_go()
            if transport is not None:
                transport.abort()
        callback, self.callback = self.callback, None
        self.connection = None
        if callback is None:
            return
        origin, self.origin = self.origin, None
        if origin is None:
            return callback(rc, result)
        loop = self.loop
        outer, loop.handling = loop.handling, origin
        try:
            callback(rc, result)
        finally:
            loop.handling = outer
