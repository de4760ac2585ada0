"""The one error the micro language raises, and the one place that builds it.

Every message names the source and line it is about, so a user can go straight
to the directive at fault (like tomli's `suffixed_err`).
"""
from typing import NamedTuple


class Where(NamedTuple):
    """A place in a micro source; `line` is 1-based, 0 for the whole source."""
    source: str
    line: int = 0

    def fields(self):
        """The `source` and `line` keywords every model node takes."""
        return {'source': self.source, 'line': self.line}


class MicroError(Exception):
    """A micro source that cannot be read or does not make sense."""

    def __init__(self, source, line, message):
        super().__init__(source, line, message)
        self.source = source
        self.line = line
        self.message = message

    def __str__(self):
        if self.line:
            return f'{self.source}:{self.line}: {self.message}'
        return f'{self.source}: {self.message}'


def error(where, message):
    """The MicroError to raise for `message` at `where`."""
    return MicroError(where.source, where.line, message)
