"""ROUTE regexes as OpenAPI path templates (rhc.pathtemplate).

A table of patterns with the template, parameters and exactness each must
give; then properties checked with Hypothesis, using `re` itself as the
oracle: for an exact template, every path the route matches is the template
filled with the groups, and every filling of the template with values of its
parameters' patterns is a path the route matches.
"""
import re
import urllib.parse

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from rhc.pathtemplate import Parameter, template

D = r'^\d+$'


@pytest.mark.parametrize('pattern, path, parameters, exact', [
    # exact: literal text, groups, anchors
    (r'/tasks$', '/tasks', [], True),
    (r'/tasks/(\d+)$', '/tasks/{arg1}', [('arg1', D)], True),
    (r'^/a\.b/(?P<id>[a-z]+)/(\w+)/x$', '/a.b/{id}/{arg2}/x',
     [('id', '^[a-z]+$'), ('arg2', r'^\w+$')], True),
    (r'/(\d+)-(\d+)\Z', '/{arg1}-{arg2}', [('arg1', D), ('arg2', D)], True),
    (r'\A/x$', '/x', [], True),
    (r'/x/(a|b)$', '/x/{arg1}', [('arg1', '^(?:a|b)$')], True),
    (r'/x/([^/]+)/y$', '/x/{arg1}/y', [('arg1', '^[^/]+$')], True),
    (r'/(?:ab){2}c$', '/ababc', [], True),
    (r'/(?:v1)/(\d+)$', '/v1/{arg1}', [('arg1', D)], True),
    (r'/(?#a comment)x$', '/x', [], True),
    # escapes unescaped; what a URL cannot hold percent-encoded
    (r'/a\{b\}%$', '/a%7Bb%7D%25', [], True),
    (r'/a{x}$', '/a%7Bx%7D', [], True),
    (r'/quiet#not-a-comment$', '/quiet%23not-a-comment', [], True),
    (r'/a=b\-c\_d$', '/a=b-c_d', [], True),
    (r'/caf\u00e9\x41\101$', '/caf%C3%A9AA', [], True),
    (r'/\N{LATIN SMALL LETTER E WITH ACUTE}$', '/%C3%A9', [], True),
    # not exact: the best template, with the regex kept beside it
    ('/', '/', [], False),                                    # no $: a prefix match
    (r'/test/ping', '/test/ping', [], False),
    (r'/a|/b', '/a', [], False),                              # alternation outside a group
    (r'^/any/(a|b)$|^/other$', '/any/{arg1}', [('arg1', '^(?:a|b)$')], False),
    (r'/(?:one|two)/(\d+)$', '/one/{arg1}', [('arg1', D)], False),
    (r'/items(/(\d+))?$', '/items', [], False),               # optional part
    (r'/v[12]/x$', '/v1/x', [], False),                       # class in literal text
    (r'/x\.\d+$', '/x.0', [], False),
    (r'/files/.*', '/files/', [], False),
    (r'/files/.+$', '/files/x', [], False),
    (r'/a{2,3}$', '/aa', [], False),
    (r'/a{,3}b$', '/b', [], False),
    (r'/a++b*?$', '/a', [], False),
    (r'/x/(\d)+$', '/x/{arg1}', [('arg1', r'^(?:\d){1,}$')], False),   # handler gets the last
    (r'/x/(\d)?$', '/x/', [], False),
    (r'/(a(\d))$', '/{arg1}', [('arg1', r'^a(\d)$')], False),  # a group inside a parameter
    (r'/(a)\1$', '/{arg1}', [('arg1', '^a$')], False),         # back-reference
    (r'/(?P<n>\d)(?P=n)$', '/{n}', [('n', r'^\d$')], False),
    (r'/x(?=y)', '/x', [], False),
    (r'/(?i:x)$', '/x', [], False),
    (r'(?i)/x$', '/x', [], False),
    (r'/(?>ab)$', '/ab', [], False),
    (r'(\d+)$', '/{arg1}', [('arg1', D)], False),            # no leading '/'
    (r'/(?P<arg2>\d+)/(\d+)$', '/{arg2}/{arg2_2}', [('arg2', D), ('arg2_2', D)], False),
    ('', '/', [], False),
])
def test_template(pattern, path, parameters, exact):
    shape = template(re.compile(pattern))
    assert (shape.path, [(p.name, p.pattern) for p in shape.parameters], shape.exact) == \
        (path, parameters, exact)


def test_parameters_know_their_group_number():
    shape = template(re.compile(r'/(?:(a)|b)/(?P<id>\d+)/(\w+)$'))
    assert shape.parameters == (Parameter('arg1', 1, '^a$'), Parameter('id', 2, D),
                                Parameter('arg3', 3, r'^\w+$'))


def test_never_raises():
    """Odd but valid regexes still give a template that starts with '/'."""
    for pattern in [r'[]a]', r'[\]]', r'(x)?(?(1)a|b)$', r'a{}', r'a{,}',
                    r'(?x) / a # c', r'\b/x\B', r'(?a)/\w+', r'((((((a))))))', '(' * 90 + ')' * 90,
                    r'(?<=a)/b', r'(?<!a)/b', r'[^\w\d]', r'\0\07\077']:
        shape = template(re.compile(pattern))
        assert shape.path.startswith('/')


def test_unreadable_regex_gives_root_not_an_error():
    class Fake:                     # what re compiled disagrees with what we read
        pattern, groups, groupindex, flags = r'/(\d+)$', 2, {}, re.UNICODE
    assert template(Fake()) == ('/', (), False)


# -- properties: re is the oracle ------------------------------------------------

PIECES = ['/', '/', 'a', 'Z9', r'\.', '-', '_', '~', r'\{', '%', r'(?#c)', r'(?:ab)',
          r'(\d+)', r'([a-z]+)', r'(x|y)', r'(\w)', r'([^/]+)', r'(?:(\d{2}))',
          '(?P<name{n}>[0-9a-f]+)', r'(?:x|y)', r'[0-9]', 'b?', 'c{2}', r'(\d)+']


@st.composite
def route_patterns(draw):
    pieces = draw(st.lists(st.sampled_from(PIECES), min_size=1, max_size=7))
    text = '/' + ''.join(piece.replace('{n}', str(i)) for i, piece in enumerate(pieces))
    return draw(st.sampled_from(['', '^'])) + text + draw(st.sampled_from(['$', r'\Z', '']))


def fill(shape, values):
    """The decoded path: the template's literal parts unquoted, values put in."""
    out, names = [], {p.name for p in shape.parameters}
    for part in re.split(r'(\{[^}]*\})', shape.path):
        name = part[1:-1]
        out.append(values[name] if part.startswith('{') and name in names
                   else urllib.parse.unquote(part))
    return ''.join(out)


FUZZ = settings(max_examples=150, deadline=None, derandomize=True, database=None,
                suppress_health_check=list(HealthCheck))


@FUZZ
@given(st.data(), route_patterns())
def test_exact_template_gives_back_every_path_the_route_matches(data, pattern):
    regex = re.compile(pattern)
    shape = template(regex)
    assert shape.path.startswith('/')
    if not shape.exact:
        return
    path = data.draw(st.from_regex(regex, fullmatch=True))
    groups = regex.match(path).groups()
    values = {p.name: groups[p.group - 1] for p in shape.parameters}
    assert fill(shape, values) == path
    for p in shape.parameters:
        assert re.fullmatch(p.pattern.strip('^$'), values[p.name])


@FUZZ
@given(st.data(), route_patterns())
def test_every_filling_of_an_exact_template_is_matched(data, pattern):
    regex = re.compile(pattern)
    shape = template(regex)
    if not shape.exact:
        return
    values = {p.name: data.draw(st.from_regex(p.pattern, fullmatch=True))
              for p in shape.parameters}
    assert regex.fullmatch(fill(shape, values)), (shape, values)


@FUZZ
@given(st.data(), route_patterns())
def test_parameters_are_the_groups_named_as_400_bodies_name_them(data, pattern):
    regex = re.compile(pattern)
    names = {index: name for name, index in regex.groupindex.items()}
    for p in template(regex).parameters:
        assert p.name == names.get(p.group, f'arg{p.group}')
        assert 1 <= p.group <= regex.groups
