"""Property-based fuzzing of the micro language.

Random lines, and mutations of a valid service using every directive, either
parse to a model or raise `micro.MicroError` naming the source and a line
that exists -- never any other exception, never a traceback from deep inside
the parser. Lines are given as a list, so nothing is read from disk; IMPORT
lines are left out of the random input (an IMPORT of a dotted name runs
`importlib.util.find_spec`, which imports the named package).
"""
import string

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import micro
from micro import MicroError

# Bounded by max_examples; the timeout only guards a very slow CI machine.
pytestmark = pytest.mark.timeout(120)

FUZZ = settings(max_examples=400, deadline=None, derandomize=True, database=None,
                suppress_health_check=list(HealthCheck))

VALID = """\
# every directive but IMPORT
CONFIG greeting
CONFIG retries default=3 validate=int env=RETRIES
ENUM color red green blue to_upper=yes
ENUM size small large to_lower=TRUE
SERVER api 12345
    AUTH myapp.auth.check
    OPENAPI /openapi.json
    ROUTE /users/(\\d+)/([\\d.]+)/(\\w+)/(\\w+)$
        ARG int
        ARG float
        ARG enum=color
        ARG myapp.types.slug
        GET myapp.users.get
            CONTENT verbose bool is_required=no default=false
            CONTENT size enum=size is_required=false
            AUTH none
        POST myapp.users.post
            CONTENT name
            CONTENT age type=int is_required=0 default=0
        DELETE myapp.users.delete
    ROUTE /health$
        SILENT
        GET myapp.health.get
    ROUTE /a\\=b\\#c$
        PUT myapp.a.put
SERVER admin port=0
    ROUTE /x
        PATCH myapp.admin.patch
CONNECTION weather https://weather.example.com is_json=false timeout=2.5
    HEADER X-Api-Key config=api_key
    HEADER User-Agent rhc\\#1
    RESOURCE forecast /forecast/{city} method=post
        HEADER X-Trace code=myapp.weather.trace_id
        REQUIRED city
        OPTIONAL units metric
        OPTIONAL limit default=10 validate=int
    RESOURCE today /today
SETUP myapp.lifecycle.start
TEARDOWN myapp.lifecycle.stop
""".splitlines()

DIRECTIVES = ['SERVER', 'ROUTE', 'ARG', 'GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'CONTENT',
              'ENUM', 'SILENT', 'AUTH', 'CONNECTION', 'HEADER', 'RESOURCE', 'REQUIRED',
              'OPTIONAL', 'CONFIG', 'SETUP', 'TEARDOWN', 'OPENAPI', 'get', 'Server', 'BOGUS']
WORDS = ['0', '1', '-1', '65536', '99999999999999999999', 'x', 'a.b', 'a.b.c', '/p$',
         '(\\d+)', '(', '[', '*', '\\', '\\#', '\\=', '=', '==', 'a=', '=b', 'type=int',
         'type=count', 'type=nope', 'enum=color', 'enum=missing', 'is_required=maybe',
         'default=', 'port=0', 'port=x', 'name=n', 'url=http://h', 'timeout=x', 'method=GET',
         'method=BREW', 'validate=int', 'validate=a.b', 'to_upper=yes', 'config=k', 'code=a.b',
         'none', '#', '# c', 'é', '\x00', '\t', '{city}', '{', 'true', 'no']


def _no_import(line):
    return not line.lstrip().lower().startswith('import')


lines = st.one_of(
    st.text(max_size=60),
    st.text(alphabet=string.printable, max_size=60),
    st.lists(st.sampled_from(DIRECTIVES + WORDS), min_size=1, max_size=6).map(' '.join),
    st.tuples(st.sampled_from(DIRECTIVES), st.lists(st.sampled_from(WORDS), max_size=5))
    .map(lambda t: ' '.join([t[0], *t[1]])),
).filter(_no_import)


def check(source_lines):
    """Parse; any error must be a MicroError pointing at one of the lines."""
    try:
        model = micro.parse(list(source_lines))
    except MicroError as e:
        assert e.source == '<lines>'
        assert isinstance(e.line, int) and 0 <= e.line <= len(source_lines), e
        assert isinstance(e.message, str) and e.message
        text = str(e)
        assert text.startswith('<lines>')
        if e.line:
            assert text.startswith(f'<lines>:{e.line}: ')
        return e
    assert model is not None
    return model


def test_the_valid_service_parses():
    model = check(VALID)
    assert not isinstance(model, MicroError), model
    assert set(model.servers) == {'api', 'admin'}
    assert set(model.connections) == {'weather'}


@FUZZ
@given(st.lists(lines, max_size=12))
def test_random_lines(source_lines):
    check(source_lines)


@FUZZ
@given(st.lists(lines, min_size=1, max_size=6), st.data())
def test_random_lines_inside_a_valid_service(extra, data):
    at = data.draw(st.integers(0, len(VALID)))
    check(VALID[:at] + extra + VALID[at:])


@st.composite
def mutated_service(draw):
    source = list(VALID)
    for _ in range(draw(st.integers(1, 5))):
        i = draw(st.integers(0, len(source) - 1))
        line = source[i]
        action = draw(st.integers(0, 6))
        if action == 0:                       # delete a line
            del source[i]
        elif action == 1:                     # repeat a line (duplicates)
            source.insert(i, line)
        elif action == 2:                     # move a line somewhere else
            del source[i]
            source.insert(draw(st.integers(0, len(source))), line)
        elif action == 3 and line:            # edit one character
            j = draw(st.integers(0, len(line) - 1))
            char = draw(st.sampled_from(list('=#\\ ()[]{}$x0.\t')) | st.characters())
            keep = j + 1 if draw(st.booleans()) else j     # replace, or insert
            line = line[:j] + char + line[keep:]
            source[i] = line
        elif action == 4:                     # drop a word
            words = line.split()
            if words:
                del words[draw(st.integers(0, len(words) - 1))]
                source[i] = '    ' + ' '.join(words)
        elif action == 5:                     # add a word
            source[i] = line + ' ' + draw(st.sampled_from(WORDS))
        else:                                 # replace a line with a random one
            source[i] = draw(lines)
        if not source:
            source = ['']
    return [line for line in source if _no_import(line)]


@FUZZ
@given(mutated_service())
def test_mutations_of_a_valid_service(source_lines):
    check(source_lines)


@FUZZ
@given(st.lists(st.one_of(st.text(max_size=20), st.integers(), st.none(), st.binary(max_size=5)),
                max_size=4))
def test_non_text_lines_are_a_micro_error(items):
    """A notebook may hand parse() anything in its list of lines."""
    try:
        micro.parse(items)
    except MicroError as e:
        assert 0 <= e.line <= len(items)


@FUZZ
@given(st.text(max_size=200))
def test_text_with_newlines(text):
    """A string holding a newline is read as lines (a string without one is a path)."""
    if '\n' not in text or not all(_no_import(line) for line in text.splitlines()):
        return
    try:
        micro.parse(text)
    except MicroError as e:
        assert e.source == '<lines>'
        assert 0 <= e.line <= len(text.splitlines())
