"""Where micro text comes from: a list of lines, text, a file, or a package.

Finding a source never imports anything beyond what
`importlib.util.find_spec` does to locate a package.
"""
import importlib.util
import os
from typing import NamedTuple

from .errors import Where, error
from .grammar import DOTTED

TEXT_NAME = '<lines>'
SUFFIX = '.micro'
ENCODING = 'utf-8'


class Source(NamedTuple):
    name: str            # what messages call it
    lines: list          # [str]
    directory: str       # where its relative IMPORTs resolve ('' = cwd)
    key: str | None      # real path of a file, to detect IMPORT cycles


def top(source):
    """The Source that `micro.parse(source)` reads."""
    if isinstance(source, (list, tuple)):
        return Source(TEXT_NAME, list(source), '', None)
    if not isinstance(source, str):
        raise error(Where('<source>'), 'expected a path, a dotted path, text or a list of lines, '
                                       f'not {type(source).__name__}')
    if '\n' in source:
        return Source(TEXT_NAME, source.splitlines(), '', None)
    try:
        path = find(source, '')
        return read(path, source if path == source else path)
    except LookupError as exc:
        raise error(Where(source), exc.args[0]) from None


def imported(given, directory):
    """The Source an IMPORT of `given` names; LookupError if there is none."""
    path = find(given, directory)
    return read(path, os.path.normpath(path))


def find(given, directory):
    """Path of the file `given` names, relative to `directory` or in a package."""
    path = os.path.join(directory, given)
    if os.path.isfile(path):
        return path
    if not DOTTED.fullmatch(given):
        raise LookupError('no such file')
    package, _, name = given.rpartition('.')
    for folder in _package_folders(package):
        path = os.path.join(folder, name + SUFFIX)
        if os.path.isfile(path):
            return path
    raise LookupError(f"no such file, nor '{name}{SUFFIX}' in package '{package}'")


def read(path, name):
    """The Source for the file at `path`, called `name` in messages."""
    try:
        with open(path, encoding=ENCODING) as file:
            lines = file.read().splitlines()
    except (OSError, UnicodeError) as exc:
        raise LookupError(f'cannot read: {getattr(exc, "strerror", None) or exc}') from None
    return Source(name, lines, os.path.dirname(path), os.path.realpath(path))


def _package_folders(package):
    """The folders of importable package `package`; LookupError if none."""
    try:
        spec = importlib.util.find_spec(package)
    except Exception:  # find_spec runs parent packages' __init__: anything may fail there
        spec = None
    folders = spec and spec.submodule_search_locations
    if not folders:
        raise LookupError(f"no such file, nor package '{package}'")
    return list(folders)
