"""`File`: a file from disk as an answer, read in chunks, validated by ETag and date.

The answer carries Content-Length, Last-Modified and an ETag made of the
file's size and modification time; a client that holds the same version
(`If-None-Match`, or else `If-Modified-Since`) gets 304 and no body (RFC
9110 §13). The file is read a chunk at a time as the client takes it, never
whole. A path that is not a readable file answers 404 (403 when it may not
be read).
"""
import email.utils
import mimetypes
import os
import urllib.parse

from rhc.request import JSON, to_json
from rhc.streams import OCTETS, Body, Opening

READ_SIZE = 256 * 1024
# What a quoted filename may hold as it is: printable ASCII but the quote, the
# backslash and the percent sign (which some browsers would decode).
_SAFE_NAME = frozenset(' !#$&\'()*+,-.0123456789;=@ABCDEFGHIJKLMNOPQRSTUVWXYZ[]^_`'
                       'abcdefghijklmnopqrstuvwxyz{|}~')


class File(Body):
    """The file at `path`; `filename` makes it a download (Content-Disposition)."""

    def __init__(self, path, content_type=None, filename=None):
        self.path = os.fspath(path)
        self.content_type = content_type
        self.filename = filename

    def __repr__(self):
        return f'<File {self.path!r}>'

    def open(self, request):
        try:
            file = open(self.path, 'rb')
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            return _error(404, 'not found')
        except PermissionError:
            return _error(403, 'forbidden')
        info = os.fstat(file.fileno())
        etag = f'"{info.st_size:x}-{info.st_mtime_ns:x}"'
        headers = [('ETag', etag),
                   ('Last-Modified', email.utils.formatdate(info.st_mtime, usegmt=True))]
        if not_modified(request, etag, int(info.st_mtime)):
            file.close()
            return Opening(304, None, headers, 0, ())
        if self.filename is not None:
            headers.append(('Content-Disposition', content_disposition(self.filename)))
        content_type = self.content_type or mimetypes.guess_type(self.path)[0] or OCTETS
        return Opening(200, content_type, headers, info.st_size, _Chunks(file, info.st_size))

    def encode(self, item):
        return item

    def close_items(self, items):
        if isinstance(items, _Chunks):
            items.close()


def _error(status, message):
    return Opening(status, JSON, [], whole=to_json({'error': message}).encode())


def not_modified(request, etag, mtime):
    """Whether the client's copy is this version: If-None-Match, else If-Modified-Since."""
    if request.method not in ('GET', 'HEAD'):
        return False
    headers = request.headers
    tags = headers.get('if-none-match')
    if tags is not None:
        # The weak comparison (RFC 9110 §8.8.3.2): W/ does not matter here.
        wanted = {tag.strip().removeprefix('W/') for tag in tags.split(',')}
        return '*' in wanted or etag in wanted
    since = headers.get('if-modified-since')
    if since is None:
        return False
    try:
        date = email.utils.parsedate_to_datetime(since)
    except (TypeError, ValueError, IndexError):
        return False        # an unreadable date is ignored (§13.1.3)
    if date is None or date.tzinfo is None:
        return False
    return mtime <= date.timestamp()


def content_disposition(filename):
    """`attachment` with the name as plain ASCII, and as UTF-8 when it is not (RFC 6266)."""
    if all(c in _SAFE_NAME for c in filename):
        return f'attachment; filename="{filename}"'
    fallback = ''.join(c if c in _SAFE_NAME else '_' for c in filename)
    encoded = urllib.parse.quote(filename, safe='')
    return f'attachment; filename="{fallback}"; filename*=UTF-8\'\'{encoded}'


class _Chunks:
    """The file's first `size` bytes, a chunk at a time; closes the file when done."""

    __slots__ = ('file', 'left')

    def __init__(self, file, size):
        self.file = file
        self.left = size

    def __iter__(self):
        return self

    def __next__(self):
        if not self.left:
            self.close()
            raise StopIteration
        data = self.file.read(min(READ_SIZE, self.left))
        if not data:
            self.close()
            raise OSError(f'{self.file.name}: the file shrank while it was being sent')
        self.left -= len(data)
        return data

    def close(self):
        self.file.close()
