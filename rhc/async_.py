"""The names the original rhc offered as `rhc.async` (a reserved word since 3.7)."""
from rhc.client import Connection, connect
from rhc.errors import CallError
from rhc.running import run, stop, wait
from rhc.task import Task, call, partial, wrap
from rhc import timer

__all__ = ['Connection', 'connect', 'CallError', 'run', 'stop', 'wait', 'Task', 'call',
           'partial', 'wrap', 'timer']
