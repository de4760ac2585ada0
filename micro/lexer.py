"""Split one micro line into a directive name, positionals and keywords.

`#` starts a comment and `\\#` is a literal `#`; `\\=` is a literal `=` so a
regex can hold one. Every other backslash is kept as written, so a ROUTE
pattern like `/users/(\\d+)$` needs no doubling.
"""
from typing import NamedTuple

from .errors import error

ESCAPABLE = ('#', '=')


class Tokens(NamedTuple):
    directive: str      # as written; the grammar folds the case
    positional: list    # [str]
    keyword: list       # [(name, value)], in order, duplicates kept


def lex(text, where):
    """The Tokens of `text`, or None for a blank or comment-only line."""
    words = _words(text)
    if not words:
        return None
    (directive, _), *rest = words
    positional, keyword = [], []
    for word, equals in rest:
        if equals is None:
            positional.append(word)
        elif equals == 0:
            raise error(where, f"missing parameter name in '{word}'")
        else:
            keyword.append((word[:equals], word[equals + 1:]))
    return Tokens(directive, positional, keyword)


def _words(text):
    """[(word, index of its first unescaped '=' or None)], comment dropped."""
    words, chars, equals = [], [], None
    i = 0
    while i < len(text):
        char = text[i]
        if char == '\\' and text[i + 1:i + 2] in ESCAPABLE:
            chars.append(text[i + 1])
            i += 2
            continue
        if char == '#':
            break
        if char.isspace():
            if chars:
                words.append((''.join(chars), equals))
            chars, equals = [], None
        else:
            if char == '=' and equals is None:
                equals = len(chars)
            chars.append(char)
        i += 1
    if chars:
        words.append((''.join(chars), equals))
    return words
