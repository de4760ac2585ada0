"""Same-thread timers serviced by the loop, in the original rhc's shape.

    t = rhc.timer.add(on_expire, 500).start()   # milliseconds
    t.re_start()   # push the deadline back
    t.cancel()     # never mind
    t.expire()     # run the action now
"""
from rhc.loop import get_loop


class Timer:
    """Runs `action()` `duration` ms after `start()`, unless cancelled first."""

    def __init__(self, action, duration, loop=None):
        self.action = action
        self.duration = duration
        self._loop = loop
        self._handle = None

    @property
    def loop(self):
        return self._loop or get_loop()

    @property
    def is_running(self):
        return self._handle is not None

    def start(self):
        """Start unless already running; returns self."""
        if self._handle is None:
            self._handle = self.loop.call_later(self.duration / 1000.0, self._fire)
        return self

    def re_start(self):
        """Start over: the full duration from now."""
        self.cancel()
        return self.start()

    def cancel(self):
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def expire(self):
        """Run the action now (on the loop) instead of later."""
        self.cancel()
        self._handle = self.loop.call_soon(self._fire)

    def _fire(self):
        self._handle = None
        self.action()


class BackoffTimer(Timer):
    """Each start waits longer than the last, up to `maximum`; `reset()` goes back."""

    def __init__(self, action, initial, maximum, multiplier=2.0, loop=None):
        super().__init__(action, initial, loop)
        self.initial = initial
        self.maximum = maximum
        self.multiplier = multiplier

    def _fire(self):
        self.duration = min(self.maximum, self.duration * self.multiplier)
        super()._fire()

    def reset(self):
        self.duration = self.initial
        return self

    def re_start(self):
        """Start over from the initial delay, as the original rhc did."""
        self.reset()
        return super().re_start()


def add(action, duration):
    """A new Timer running `action()` after `duration` milliseconds (not started)."""
    return Timer(action, duration)


def add_backoff(action, initial, maximum, multiplier=2.0):
    """A new BackoffTimer: `initial` ms, growing by `multiplier` to `maximum` ms."""
    return BackoffTimer(action, initial, maximum, multiplier)
