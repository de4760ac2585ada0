"""Idle keep-alive connections to one service, waiting for the next call.

The most recently used connection is reused first, so at a steady
concurrency the same few stay warm and the rest age out: nothing a call at
the current concurrency would reuse is closed. The pool is bounded
(`max_idle`), and a connection idle for `idle_timeout` seconds is closed.
While parked, a connection that becomes readable has been closed by the
peer (or is sending what nobody asked for): it is closed and forgotten.
"""
import collections

MAX_IDLE = 256
IDLE_TIMEOUT = 15.0


class _Parked:
    """The protocol of a parked connection: anything it hears ends it."""

    __slots__ = ('pool', 'transport')

    def __init__(self, pool, transport):
        self.pool = pool
        self.transport = transport

    def data_received(self, data):
        self.transport.abort()

    def eof_received(self):
        return False

    def connection_lost(self, exc):
        self.pool.forget(self.transport)

    def pause_writing(self):
        pass

    def resume_writing(self):
        pass


class Pool:
    """(transport, parser) pairs, most recently parked last."""

    def __init__(self, get_loop, max_idle=MAX_IDLE, idle_timeout=IDLE_TIMEOUT):
        self._get_loop = get_loop       # looked up when needed: the process's loop may change
        self.max_idle = max_idle
        self.idle_timeout = idle_timeout
        self._idle = collections.deque()      # (transport, parser, parked at)
        self._reaper = None

    def __len__(self):
        return len(self._idle)

    def __iter__(self):
        return (transport for transport, _, _ in self._idle)

    def take(self):
        """A live (transport, parser) to reuse, or None."""
        idle = self._idle
        while idle:
            transport, parser, _ = idle.pop()
            if not transport.is_closing():
                return transport, parser
        return None

    def give(self, transport, parser):
        """Park a connection whose last answer was read in full."""
        transport.set_protocol(_Parked(self, transport))
        if len(self._idle) >= self.max_idle or transport.is_closing():
            return transport.close()
        loop = self._get_loop()
        self._idle.append((transport, parser, loop.time()))
        if self._reaper is None:
            self._reaper = loop.call_later(self.idle_timeout, self._reap)

    def forget(self, transport):
        for entry in self._idle:
            if entry[0] is transport:
                self._idle.remove(entry)
                return

    def _reap(self):
        """Close what has idled for `idle_timeout`; the oldest are at the left."""
        self._reaper = None
        idle = self._idle
        loop = self._get_loop()
        cutoff = loop.time() - self.idle_timeout
        while idle and idle[0][2] <= cutoff:
            idle.popleft()[0].close()
        if idle:
            self._reaper = loop.call_later(idle[0][2] - cutoff, self._reap)

    def close(self):
        if self._reaper is not None:
            self._reaper.cancel()
            self._reaper = None
        while self._idle:
            self._idle.pop()[0].close()
