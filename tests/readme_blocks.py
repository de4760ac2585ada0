"""Read README.rst into the blocks tests/test_readme.py runs.

Conventions the README follows (all invisible once rendered):

- ``.. code-block:: python``, ``console`` or ``text``: one block each.
- ``.. file: PATH`` on the line before a code block: the block shows the
  repository file PATH, and must equal it.
- A ``text`` block without ``.. file:`` is a micro snippet; it must parse.
- In ``console`` blocks, ``$ `` starts a command; the lines after it, up to
  the next command, are its expected output, where ``...`` stands for
  anything and runs of spaces count as one.
- In ``python`` blocks, ``EXPR  # -> VALUE`` claims that EXPR equals VALUE,
  and ``EXPR  # raises NAME: TEXT`` that EXPR raises NAME with TEXT in its
  message; both are checked.
"""
import re
import shlex
from typing import NamedTuple

CODE_BLOCK = re.compile(r'^(\s*)\.\. code-block::\s*(\w+)\s*$')
FILE_MARK = re.compile(r'^\s*\.\. file:\s*(\S+)\s*$')
EXPECT = re.compile(r'^(\s*)(\S.*?)\s+#\s*->\s*(.+?)\s*$')
RAISES = re.compile(r'^(\s*)(\S.*?)\s+#\s*raises\s+(\w+)(?::\s*(.*?))?\s*$')


class Block(NamedTuple):
    lang: str
    line: int           # 1-based line of the code-block directive
    text: str           # dedented content, ending in a newline
    file: str | None    # the `.. file:` it shows, if any

    @property
    def id(self):
        return f'{self.lang}-line{self.line}'


def blocks(text):
    """Every code block of an RST text, in order."""
    lines = text.splitlines()
    found = []
    for i, line in enumerate(lines):
        m = CODE_BLOCK.match(line)
        if not m:
            continue
        indent = len(m.group(1))
        mark = FILE_MARK.match(lines[i - 1]) if i else None
        body, j = [], i + 1
        while j < len(lines) and (not lines[j].strip() or
                                  len(lines[j]) - len(lines[j].lstrip()) > indent):
            body.append(lines[j])
            j += 1
        content = list(body)
        while content and content[0].strip().startswith(':'):   # directive options
            content.pop(0)
        while content and not content[0].strip():
            content.pop(0)
        while content and not content[-1].strip():
            content.pop()
        cut = min(len(b) - len(b.lstrip()) for b in content if b.strip())
        found.append(Block(m.group(2), i + 1, '\n'.join(b[cut:] for b in content) + '\n',
                           mark.group(1) if mark else None))
    return found


class Command(NamedTuple):
    text: str           # as written after `$ `
    expected: list      # the output lines shown under it


def commands(console_text):
    """The `$ ` commands of a console block with the output shown for each."""
    result = []
    for line in console_text.splitlines():
        if line.startswith('$ '):
            result.append(Command(line[2:], []))
        elif result:
            result[-1].expected.append(line)
    return result


class Step(NamedTuple):
    argv: list          # the words, without env assignments or a trailing `&`
    env: dict           # VAR=value assignments before it
    background: bool


def steps(command_text):
    """A command line split on `&&` into its steps."""
    result = []
    for part in command_text.split('&&'):
        words = shlex.split(part)
        env = {}
        while words and re.fullmatch(r'[A-Za-z_]\w*=.*', words[0]):
            key, value = words.pop(0).split('=', 1)
            env[key] = value
        background = bool(words) and words[-1] == '&'
        if background:
            words.pop()
        result.append(Step(words, env, background))
    return result


def is_launch(argv):
    return argv[:3] == ['python', '-m', 'rhc.launch']


ONE_SHOT = {'--check', '--config-only', '--openapi', '--help', '-h'}


def is_serve(argv):
    """A launch that serves (rather than checking or printing and exiting)."""
    return is_launch(argv) and not ONE_SHOT & set(argv)


def normalize(line):
    return ' '.join(line.split())


def output_matches(expected_lines, actual):
    """Does `actual` look like the lines shown? (`...` is anything; spaces squeezed)."""
    import json
    expected = [normalize(x) for x in expected_lines]
    while expected and not expected[-1]:
        expected.pop()
    got = '\n'.join(normalize(x) for x in actual.replace('\r\n', '\n').strip('\n').split('\n'))
    if any('...' in x for x in expected):
        pattern = '.*'.join(re.escape(piece) for piece in '\n'.join(expected).split('...'))
        return re.fullmatch(pattern, got, re.DOTALL) is not None
    shown = '\n'.join(expected)
    try:
        return json.loads(shown) == json.loads(got)
    except ValueError:
        return shown == got


def checked_python(source, first_line):
    """The block's source with each `# ->` and `# raises` claim turned into a check."""
    out = [
        'def __expect(got, want, line):',
        '    assert got == want, f"README line {line}: got {got!r}, README says {want!r}"',
        'def __raises(thunk, name, text, line):',
        '    try:',
        '        got = thunk()',
        '    except Exception as e:',
        '        assert type(e).__name__ == name and text in str(e), \\',
        '            f"README line {line}: raised {type(e).__name__}: {e}; README says {name}: {text}"',
        '    else:',
        '        raise AssertionError(f"README line {line}: returned {got!r}; README says it raises {name}")',
    ]
    for number, line in enumerate(source.splitlines(), first_line):
        m = RAISES.match(line)
        if m:
            indent, expr, name, text = m.groups()
            out.append(f'{indent}__raises(lambda: ({expr}), {name!r}, {text or ""!r}, {number})')
            continue
        m = EXPECT.match(line)
        if m:
            indent, expr, value = m.groups()
            out.append(f'{indent}__expect(({expr}), ({value}), {number})')
            continue
        out.append(line)
    return '\n'.join(out) + '\n'


def list_table_rows(text, after):
    """The rows of the first `.. list-table::` after the text `after`, as lists of cells."""
    lines = text[text.index(after):].splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip().startswith('.. list-table::'))
    rows = []
    for line in lines[start + 1:]:
        stripped = line.strip()
        if stripped.startswith('* - '):
            rows.append([stripped[4:]])
        elif stripped.startswith('- ') and rows:
            rows[-1].append(stripped[2:])
        elif stripped and not stripped.startswith(':') and not line.startswith(' '):
            break
    return rows
