"""micro: the rhc service language, read into a plain model.

`parse(source)` returns a `model.Service`; every problem is a `MicroError`
naming the source and line. Nothing here opens sockets or imports handlers.
"""
from . import model
from .errors import MicroError
from .parser import parse

__all__ = ['parse', 'MicroError', 'model']
