"""ROUTE regexes as OpenAPI path templates: `/tasks/(\\d+)$` -> `/tasks/{arg1}`.

A capturing group becomes a parameter named as rhc's 400 bodies name it (the
group's name, else `arg1`, `arg2`, … by position), whose pattern is the
group's regex anchored to the whole value. Literal text is unescaped (and
percent-encoded where a URL needs it); a leading `^` and a trailing `$` go.

Much a regex can say has no template: alternation, optional or repeated
parts, character classes in literal text, lookarounds, a missing `$` (a
prefix match). For those `template` still gives its best guess, most often a
path the route matches (first alternative, fewest repetitions, one sample
character for a class), and says it is not `exact`, so the caller can keep
the regex beside it. It never raises: a pattern it cannot read gives `/`.
"""
import re
import unicodedata
import urllib.parse
from typing import NamedTuple

SAFE = "/:@!$&'()*+,;=-._~"         # left as they are in a template's literal text
SAMPLES = 'x0a1A-_.~'                # tried in turn as the sample of a character class
SIMPLE_ESCAPES = {'a': '\a', 'f': '\f', 'n': '\n', 'r': '\r', 't': '\t', 'v': '\v'}
_QUANTIFIER = re.compile(r'\{(\d*)(?:(,)(\d*))?\}')
_FLAGS = re.compile(r'[aiLmsux]*(?:-[imsx]+)?')


class Parameter(NamedTuple):
    name: str       # the group's name, else arg<N>
    group: int      # the group's number in the ROUTE regex (1-based)
    pattern: str    # the group's regex, anchored to the whole value ('' if it has none alone)


class Template(NamedTuple):
    path: str
    parameters: tuple
    exact: bool     # True: the template means what the regex means


# -- reading the regex into nodes -----------------------------------------------
# Nodes are tuples: ('lit', char); ('one', source) for a single-character
# matcher; ('anchor', source) for what a template cannot say and leaves out
# (anchors, back-references, flags); ('skip',) for a comment;
# ('group', kind, number, name, branches, inner source); ('repeat', node, low, high).

class _Reader:
    def __init__(self, pattern):
        self.text = pattern
        self.at = 0
        self.groups = 0
        self.names = {}

    def peek(self, n=1):
        return self.text[self.at:self.at + n]

    def alternation(self):
        """[[node, …], …]: the branches up to the next ')' or the end."""
        branches = [[]]
        while self.at < len(self.text) and self.peek() != ')':
            if self.peek() == '|':
                self.at += 1
                branches.append([])
                continue
            branches[-1].append(self.quantified(self.atom()))
        return branches

    def quantified(self, node):
        char = self.peek()
        low = high = None
        if char in ('*', '+', '?'):
            low, high = {'*': (0, None), '+': (1, None), '?': (0, 1)}[char]
            self.at += 1
        elif char == '{':
            m = _QUANTIFIER.match(self.text, self.at)
            if m and (m.group(1) or m.group(3) or m.group(2)):
                low = int(m.group(1) or 0)
                high = (int(m.group(3)) if m.group(3) else None) if m.group(2) else low
                self.at = m.end()
        if low is None:
            return node
        if self.peek() in ('?', '+'):       # lazy or possessive: the same text either way
            self.at += 1
        return ('repeat', node, low, high)

    def atom(self):
        char = self.peek()
        self.at += 1
        if char == '(':
            return self.group()
        if char == '[':
            return ('one', self.char_class())
        if char == '\\':
            return self.escape()
        if char == '.':
            return ('one', '.')
        if char in ('^', '$'):
            return ('anchor', char)
        return ('lit', char)

    def char_class(self):
        start = self.at - 1
        if self.peek() == '^':
            self.at += 1
        if self.peek() == ']':
            self.at += 1
        while self.peek() != ']':
            if not self.peek():
                raise ValueError('unterminated character class')
            self.at += 2 if self.peek() == '\\' else 1
        self.at += 1
        return self.text[start:self.at]

    def escape(self):
        char = self.peek()
        self.at += 1
        if char.isdigit():
            octal = re.match(r'0[0-7]{0,2}|[0-7]{3}', self.text[self.at - 1:])
            if octal:
                self.at += len(octal.group()) - 1
                return ('lit', chr(int(octal.group(), 8)))
            self.at += 1 if self.peek().isdigit() else 0
            return ('anchor', 'backref')
        if char in 'dDsSwW':
            return ('one', '\\' + char)
        if char in 'bBAZ':
            return ('anchor', '\\' + char)
        if char in SIMPLE_ESCAPES:
            return ('lit', SIMPLE_ESCAPES[char])
        if char in 'xuU':
            size = {'x': 2, 'u': 4, 'U': 8}[char]
            self.at += size
            return ('lit', chr(int(self.text[self.at - size:self.at], 16)))
        if char == 'N':
            end = self.text.index('}', self.at)
            name, self.at = self.text[self.at + 1:end], end + 1
            return ('lit', unicodedata.lookup(name))
        return ('lit', char)

    def group(self):
        kind, name = 'capture', None
        if self.peek() == '?':
            self.at += 1
            kind, name = self.group_kind()
            if kind in ('skip', 'backref', 'flags'):
                return ('skip',) if kind == 'skip' else ('anchor', kind)
        number = None
        if kind == 'capture':
            self.groups += 1
            number = self.groups
            if name is not None:
                self.names[name] = number
        inner = self.at
        branches = self.alternation()
        if self.peek() != ')':
            raise ValueError('unbalanced parenthesis')
        self.at += 1
        return ('group', kind, number, name, branches, self.text[inner:self.at - 1])

    def group_kind(self):
        """What follows `(?`: (kind, name); the reader is left at the group's body."""
        for prefix, kind in ((':', 'plain'), ('>', 'atomic'), ('=', 'look'), ('!', 'look'),
                             ('<=', 'look'), ('<!', 'look')):
            if self.text.startswith(prefix, self.at):
                self.at += len(prefix)
                return kind, None
        if self.text.startswith('P<', self.at):
            end = self.text.index('>', self.at)
            name, self.at = self.text[self.at + 2:end], end + 1
            return 'capture', name
        if self.peek() == '#' or self.text.startswith('P=', self.at):
            kind = 'skip' if self.peek() == '#' else 'backref'
            self.at = self.text.index(')', self.at) + 1
            return kind, None
        if self.peek() == '(':          # (?(id)yes|no): keep the branches, drop the test
            self.at = self.text.index(')', self.at) + 1
            return 'conditional', None
        flags = _FLAGS.match(self.text, self.at)
        self.at = flags.end()
        if self.peek() == ')':
            self.at += 1
            return 'flags', None
        self.at += 1                    # the ':' of (?i:...)
        return 'scoped', None


# -- writing nodes as a template ------------------------------------------------

class _Writer:
    def __init__(self, flags):
        self.flags = flags
        self.exact = True

    def branches(self, branches):
        if len(branches) > 1:
            self.exact = False
        return self.sequence(branches[0])

    def sequence(self, nodes):
        out = []
        for node in nodes:
            out.extend(self.node(node))
        return out

    def node(self, node):
        kind = node[0]
        if kind == 'lit':
            return [node[1]]
        if kind == 'one':
            self.exact = False
            return [self.sample(node[1])]
        if kind == 'repeat':
            return self.repeat(*node[1:])
        if kind == 'group':
            return self.group(*node[1:])
        if kind == 'anchor':
            self.exact = False
        return []

    def group(self, kind, number, name, branches, inner):
        if kind == 'capture':
            if _captures(branches):
                self.exact = False      # a group inside a parameter has no place of its own
            return [Parameter(name or f'arg{number}', number, _anchored(inner, branches))]
        if kind in ('look', 'conditional', 'scoped', 'atomic'):
            self.exact = False
            if kind == 'look':
                return []
        return self.branches(branches)

    def repeat(self, node, low, high):
        if low == 0:
            self.exact = False
            return []
        if node[0] == 'group' and node[1] == 'capture':
            self.exact = False          # the handler gets the last repetition only
            _, _, number, name, branches, inner = node
            quantifier = f'{{{low},{"" if high is None else high}}}'
            return [Parameter(name or f'arg{number}', number,
                              _anchored(f'(?:{inner}){quantifier}', [[]]))]
        if _captures([[node]]):
            self.exact = False          # repeating it would repeat its parameters
            return self.node(node)
        if low != high:
            self.exact = False
        return self.node(node) * low

    def sample(self, source):
        for char in SAMPLES:
            if re.fullmatch(source, char, self.flags):
                return char
        return ''


def _captures(branches):
    """Whether any node in `branches` is (or holds) a capturing group."""
    for branch in branches:
        for node in branch:
            if node[0] == 'repeat':
                node = node[1]
            if node[0] == 'group' and (node[1] == 'capture' or _captures(node[4])):
                return True
    return False


def _anchored(inner, branches):
    """`inner` as a pattern the whole value must match; '' if it cannot stand alone."""
    pattern = f'^(?:{inner})$' if len(branches) > 1 else f'^{inner}$'
    try:
        re.compile(pattern)
    except re.error:
        return ''
    return pattern


def _unique_names(pieces):
    """Parameters named alike (a group named 'arg2' and the unnamed second) get suffixes."""
    seen, out, renamed = set(), [], False
    for piece in pieces:
        if isinstance(piece, Parameter):
            if piece.name in seen:
                piece, renamed = piece._replace(name=f'{piece.name}_{piece.group}'), True
            seen.add(piece.name)
        out.append(piece)
    return out, renamed


def template(regex):
    """The Template of a compiled ROUTE regex (`re.Pattern`)."""
    try:
        return _template(regex)
    except (ValueError, IndexError, KeyError, RecursionError, re.error):
        return Template('/', (), False)


def _template(regex):
    reader = _Reader(regex.pattern)
    branches = reader.alternation()
    if reader.at != len(regex.pattern) or reader.groups != regex.groups \
            or reader.names != dict(regex.groupindex):
        raise ValueError('the regex reads differently from what re compiled')
    writer = _Writer(regex.flags)
    first = list(branches[0])
    if first and first[0] in (('anchor', '^'), ('anchor', '\\A')):
        first.pop(0)
    if first and first[-1] in (('anchor', '$'), ('anchor', '\\Z')):
        first.pop()
    else:
        writer.exact = False            # no `$`: any path that starts so matches
    pieces = writer.branches([first] + branches[1:])
    pieces, renamed = _unique_names(pieces)
    path = ''.join(f'{{{p.name}}}' if isinstance(p, Parameter)
                   else urllib.parse.quote(p, safe=SAFE) for p in pieces)
    exact = writer.exact and not renamed and not (regex.flags & ~re.UNICODE)
    if not path.startswith('/'):
        path, exact = '/' + path, False
    parameters = tuple(p for p in pieces if isinstance(p, Parameter))
    return Template(path, parameters, exact)
