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
from rhc.running import run, stop, wait
from rhc.task import Task, call, partial, wrap
from rhc.threads import from_asyncio, to_thread

__version__ = '2.0.0'
__all__ = ['Connection', 'connect', 'CallError', 'HTTPError', 'run', 'stop', 'wait',
           'Task', 'call', 'partial', 'wrap', 'timer',
           'Future', 'Cancelled', 'sleep', 'gather', 'wait_for', 'spawn', 'to_thread', 'from_asyncio']
