"""Sending a `Body` (Stream, EventStream, File) on a server connection, as the client reads.

The server's `send` hands a Body here. The head goes out at once; then,
for a body with items, a `StreamWriter` becomes the transport's protocol
until the body ends. It takes the next item only while the transport's
buffer is below its high-water mark (`pause_writing` / `resume_writing`),
so a client that reads slowly holds at most about that much of the server's
memory. A sync source is read in a loop, its small items gathered into
larger chunks; an async one is read by a task on rhc's loop. When the
client goes away the source is closed (`close()` / `aclose()`), so its
`finally` blocks run; when the body ends the connection goes back to the
server's protocol, which serves what was pipelined behind it.
"""
import logging

from rhc.concurrency import sleep
from rhc.coroutine import Task
from rhc.future import Future
from rhc.http.writer import CHUNKED, LAST_CHUNK, UNTIL_CLOSE, Clock, field_lines, has_body, \
    response_head
from rhc.logtext import loggable
from rhc.request import error_id, render

log = logging.getLogger('rhc.server')
access_log = logging.getLogger('rhc.access')

GATHER = 64 * 1024          # a sync source's small items are sent in chunks of about this size
TURN_BYTES = 1024 * 1024    # written per loop turn at most, so other connections get theirs


def answer(protocol, request, status, body, headers, reason):
    """Answer `request` on `protocol` (a server connection) with `body`, a streams.Body."""
    if request is not protocol.current or protocol.transport.is_closing():
        return      # the client went away before the handler answered
    keep_alive = request.keep_alive and not protocol.closing and not protocol.server.stopping
    try:
        opening = body.open(request)
    except Exception:
        return _fail(protocol, request, 'opening the body failed', keep_alive)
    if opening.status != 200:
        status = opening.status     # the body's own status (a 304, a 404) over the default
    request.status = status
    head_only = request.method == 'HEAD' or not has_body(status)
    if opening.whole is not None:
        length = len(opening.whole)
    elif opening.length is not None:
        length = opening.length
    elif request.version == 'HTTP/1.0':
        length = UNTIL_CLOSE
        keep_alive = keep_alive and head_only
    else:
        length = CHUNKED
    try:
        given = opening.headers + (list(headers.items() if hasattr(headers, 'items') else headers)
                                   if headers else [])
        head = response_head_for(request, status, opening.content_type, given, reason,
                                 length, keep_alive)
    except ValueError as e:
        body.close_items(opening.items)
        return _fail(protocol, request, f'refusing the response headers: {e}', keep_alive)
    if head_only or opening.whole is not None:
        body.close_items(opening.items)
        data = head if head_only else head + opening.whole
        _write_gathered(protocol, data)
        log_answer(protocol, request, status, len(data))
        return protocol.streamed(keep_alive)
    writer = StreamWriter(protocol, request, status, body, opening.items, length is CHUNKED,
                          keep_alive, len(head))
    _write_gathered(protocol, head)
    writer.start()


def response_head_for(request, status, content_type, headers, reason, length, keep_alive):
    """The head of an answer, whole or streamed: the fields every answer has, then its own."""
    extra = b''
    if headers:
        given, extra = field_lines(headers)
        if given is not None:
            content_type = given
    if not keep_alive:
        extra += b'Connection: close\r\n'
    elif request.version == 'HTTP/1.0':
        extra += b'Connection: keep-alive\r\n'
    fields = b'Date: %s\r\nX-Request-Id: %s\r\n%s' % (
        Clock.date(), request.request_id.encode('latin-1'), extra)
    return response_head(status, content_type, length, fields, reason)


def _write_gathered(protocol, data):
    """Write after the answers the connection has gathered (it flushes them itself while
    it is processing; a delayed answer must flush them here)."""
    out = protocol.out
    out += data
    if not protocol.processing:
        protocol.transport.write(out)
        out.clear()


def _fail(protocol, request, what, keep_alive):
    """Answer 500 instead, logging why (with the traceback) beside the id the client gets."""
    eid = error_id()
    log.exception('%s %s: %s: id=%s request_id=%s', request.method, loggable(request.path),
                  what, eid, request.request_id)
    body, content_type = render({'error': 'internal server error', 'id': eid})
    request.status = 500
    data = response_head_for(request, 500, content_type, (), None, len(body), keep_alive)
    if request.method != 'HEAD':
        data += body
    _write_gathered(protocol, data)
    log_answer(protocol, request, 500, len(data))
    protocol.streamed(keep_alive)


def log_answer(protocol, request, status, sent, note=''):
    """Count and log a streamed answer as every other (the server's Observer)."""
    protocol.server.observer.finished(protocol, request, status, sent)


class StreamWriter:
    """The transport's protocol while a body streams; the server's protocol hears the rest."""

    __slots__ = ('protocol', 'transport', 'loop', 'request', 'status', 'body', 'items',
                 'chunked', 'keep_alive', 'sent', 'paused', 'ending', 'finished', 'task',
                 'drained', 'last_write', 'ping_timer', 'stall_timer')

    def __init__(self, protocol, request, status, body, items, chunked, keep_alive, head_size):
        self.protocol = protocol
        self.transport = protocol.transport
        self.loop = protocol.loop
        self.request = request
        self.status = status
        self.body = body
        self.items = items
        self.chunked = chunked
        self.keep_alive = keep_alive
        self.sent = head_size
        # The connection may already be waiting for its client to read.
        self.paused = protocol.paused
        self.ending = False         # the body is written; waiting for the client to read it
        self.finished = False
        self.task = None
        self.drained = None         # what an async source's task waits on while paused
        self.last_write = self.loop.time()
        self.ping_timer = None
        self.stall_timer = None

    def start(self):
        self.transport.set_protocol(self)
        if self.paused:
            self._watch_stall()
        if self.body.ping is not None:
            self.ping_timer = self.loop.call_later(self.body.ping, self._ping)
        items = self.items
        if hasattr(items, '__aiter__'):
            self.items = items.__aiter__()
            self.task = self.request.task = Task(self._pump(), self.loop)
        else:
            self.items = iter(items)
            self.loop.call_soon(self._pull)

    # -- what the transport calls ---------------------------------------------

    def data_received(self, data):
        self.protocol.data_received(data)      # pipelined requests wait in its parser

    def eof_received(self):
        return False        # the client is gone: the transport closes, connection_lost follows

    def pause_writing(self):
        self.paused = True
        self._watch_stall()

    def resume_writing(self):
        self.paused = False
        if self.ending:
            return self._hand_back()
        if self.task is None:
            self._pull()
        elif self.drained is not None:
            self.drained.set_result(None)

    def connection_lost(self, exc):
        if not self.finished:
            self._stop(' (connection closed)')
        self.protocol.connection_lost(exc)

    # -- taking items -----------------------------------------------------------

    def _pull(self):
        """Take items from a sync source while the client keeps up, a turn's worth at most."""
        items, encode, transport = self.items, self.body.encode, self.transport
        pieces, size, written = [], 0, 0
        while not self.paused and not transport.is_closing():
            try:
                data = encode(next(items))
            except StopIteration:
                if pieces:
                    self._write(b''.join(pieces))
                return self._end()
            except Exception:
                return self._broken()
            if data:
                pieces.append(data)
                size += len(data)
                if size >= GATHER:
                    self._write(pieces[0] if len(pieces) == 1 else b''.join(pieces))
                    pieces, written, size = [], written + size, 0
                    if written >= TURN_BYTES and not self.paused:
                        self.loop.call_soon(self._pull)
                        return

    async def _pump(self):
        """Take items from an async source while the client keeps up."""
        items, encode, transport = self.items, self.body.encode, self.transport
        ended = False
        try:
            written = 0
            while not transport.is_closing():
                if self.paused:
                    self.drained = Future(self.loop)
                    await self.drained
                    self.drained, written = None, 0
                    continue
                if written >= TURN_BYTES:
                    await sleep(0)
                    written = 0
                    continue
                try:
                    item = await items.__anext__()
                except StopAsyncIteration:
                    ended = True
                    break
                data = encode(item)
                if data:
                    self._write(data)
                    written += len(data)
        except Exception:
            self._broken()
        finally:
            if not ended:
                await _aclose(items)
        if ended:
            self._end()

    # -- writing ------------------------------------------------------------------

    def _write(self, data):
        if self.chunked:
            data = b'%x\r\n%s\r\n' % (len(data), data)
        self.sent += len(data)
        self.last_write = self.loop.time()
        self.transport.write(data)

    def _ping(self):
        """A comment after `ping` seconds of silence (one that waits on its client needs none)."""
        ping = self.body.ping
        due = self.last_write + ping - self.loop.time()
        if due <= 0:
            if not self.paused:
                self._write(self.body.ping_bytes)
            due = ping
        self.ping_timer = self.loop.call_later(due, self._ping)

    def _watch_stall(self):
        """A client that reads nothing for the idle timeout is cut off, as an idle one is."""
        if self.stall_timer is None:
            self.stall_timer = self.loop.call_later(self.protocol.server.limits.idle_timeout,
                                                    self._check_stall)

    def _check_stall(self):
        self.stall_timer = None
        if not self.paused or self.finished:
            return
        limit = self.protocol.server.limits.idle_timeout
        stalled = self.loop.time() - self.transport.progressed
        if stalled < limit:
            self.stall_timer = self.loop.call_later(limit - stalled, self._check_stall)
            return
        log.info('conn=%s not reading; closed after %.1fs', self.protocol.id, stalled)
        self.transport.abort()

    # -- ending --------------------------------------------------------------------

    def _end(self):
        """The body is complete: end it, and once the client has read enough, hand back."""
        if self.chunked:
            self.transport.write(LAST_CHUNK)
            self.sent += len(LAST_CHUNK)
        self._cancel_timers()
        self.finished = True
        log_answer(self.protocol, self.request, self.status, self.sent)
        if self.paused:
            self.ending = True      # resume_writing hands the connection back
        else:
            self._hand_back()

    def _hand_back(self):
        transport = self.transport
        if transport.is_closing():
            return      # connection_lost is on its way to us, and goes on to the protocol
        transport.set_protocol(self.protocol)
        self.protocol.streamed(self.keep_alive)

    def _broken(self):
        """The source failed mid-body: the status is sent, so the client must see a cut."""
        eid = error_id()
        log.exception('the body of %s %s failed after %d bytes: id=%s request_id=%s',
                      self.request.method, loggable(self.request.path), self.sent, eid,
                      self.request.request_id)
        # An async source is closed by its own task, which is running this.
        self._stop(' (body failed)', close=self.task is None)
        self.transport.abort()

    def _stop(self, note, close=True):
        """The body ends unfinished: close the source, so that its `finally` blocks run
        (an async source's task closes it as it is cancelled)."""
        self.finished = True
        self._cancel_timers()
        log_answer(self.protocol, self.request, self.status, self.sent, note)
        if not close:
            return
        if self.task is not None:
            self.task.cancel()
            return
        closer = getattr(self.items, 'close', None)
        if closer is not None:
            try:
                closer()
            except Exception:
                log.exception('closing the body of %s %s failed', self.request.method,
                              loggable(self.request.path))

    def _cancel_timers(self):
        for timer in (self.ping_timer, self.stall_timer):
            if timer is not None:
                timer.cancel()
        self.ping_timer = self.stall_timer = None


async def _aclose(items):
    aclose = getattr(items, 'aclose', None)
    if aclose is not None:
        try:
            await aclose()
        except Exception:
            log.exception('closing an async body failed')
