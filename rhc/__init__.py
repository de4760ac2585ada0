"""rhc: a microservice framework with no runtime dependencies.

A service is a micro file plus plain Python functions, served on one
single-threaded `selectors` loop that also drives an async HTTP client.
"""
from rhc import timer
from rhc.client import Connection, connect
from rhc.concurrency import gather, sleep, wait_for
from rhc.coroutine import spawn
from rhc.errors import CallError, HTTPError
from rhc.future import Cancelled, Future
from rhc.response import Response
from rhc.files import File
from rhc.running import run, stop, wait
from rhc.sse import Event
from rhc.streams import EventStream, Stream
from rhc.task import Task, call, partial, wrap
from rhc.threads import from_asyncio, to_thread

__version__ = '2.0.0'
__all__ = ['Connection', 'connect', 'CallError', 'HTTPError', 'Response', 'run', 'stop', 'wait',
           'Task', 'call', 'partial', 'wrap', 'timer',
           'Future', 'Cancelled', 'sleep', 'gather', 'wait_for', 'spawn', 'to_thread', 'from_asyncio',
           'Stream', 'EventStream', 'Event', 'File']


def __getattr__(name):
    # rhc.metrics loads on first use, so `import rhc` stays as cheap as it was.
    if name == 'metrics':
        import importlib
        return importlib.import_module('rhc.metrics')
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
