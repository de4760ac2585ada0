"""The micro lexer: comments, escapes, keywords, and case rules."""
import pytest

import micro
from micro.errors import Where
from micro.lexer import Tokens, lex

HERE = Where('<lines>', 1)


@pytest.mark.parametrize('text, expected', [
    ('', None),
    ('   \t ', None),
    ('# only a comment', None),
    ('   # indented comment', None),
    ('SERVER a 1', Tokens('SERVER', ['a', '1'], [])),
    ('  SERVER\ta   1  ', Tokens('SERVER', ['a', '1'], [])),
    ('SERVER a 1 # the api', Tokens('SERVER', ['a', '1'], [])),
    ('SERVER a 1#tight', Tokens('SERVER', ['a', '1'], [])),
    ('SERVER name=a port=1', Tokens('SERVER', [], [('name', 'a'), ('port', '1')])),
    ('CONFIG a default=', Tokens('CONFIG', ['a'], [('default', '')])),
    ('CONFIG a default=x=y', Tokens('CONFIG', ['a'], [('default', 'x=y')])),
    (r'ROUTE /a\#b$', Tokens('ROUTE', ['/a#b$'], [])),
    (r'ROUTE /a\=b$', Tokens('ROUTE', ['/a=b$'], [])),
    (r'ROUTE pattern=/a\=b=c', Tokens('ROUTE', [], [('pattern', '/a=b=c')])),
    (r'ROUTE /users/(\d+)$', Tokens('ROUTE', [r'/users/(\d+)$'], [])),
    (r'ROUTE \s\w\.\\ end\\', Tokens('ROUTE', [r'\s\w\.\\', 'end\\\\'], [])),
    ('ROUTE end\\', Tokens('ROUTE', ['end\\'], [])),
])
def test_lex(text, expected):
    assert lex(text, HERE) == expected


def test_missing_parameter_name():
    with pytest.raises(micro.MicroError) as info:
        lex('SERVER =a', HERE)
    assert str(info.value) == "<lines>:1: missing parameter name in '=a'"


def test_regex_with_escapes_reaches_the_model():
    service = micro.parse(['SERVER s 0', r'ROUTE /a\=(\d+)\#x$ # comment', 'ARG int'])
    route = service.servers['s'].routes[0]
    assert route.pattern == r'/a=(\d+)#x$'
    assert route.regex.match('/a=42#x').group(1) == '42'


@pytest.mark.parametrize('name', ['server', 'Server', 'sErVeR'])
def test_directives_are_case_insensitive(name):
    assert micro.parse([f'{name} a 1']).servers['a'].port == 1


def test_parameter_names_are_case_sensitive():
    with pytest.raises(micro.MicroError) as info:
        micro.parse(['SERVER a PORT=1'])
    assert str(info.value) == "<lines>:1: unknown parameter 'PORT' for SERVER"


@pytest.mark.parametrize('spelling, value', [
    ('true', True), ('TRUE', True), ('Yes', True), ('1', True),
    ('false', False), ('False', False), ('NO', False), ('0', False),
])
def test_boolean_spellings(spelling, value):
    service = micro.parse([f'CONNECTION c is_json={spelling}'])
    assert service.connections['c'].is_json is value


def test_indentation_is_cosmetic():
    flat = micro.parse(['SERVER a 1', 'ROUTE /x$', 'GET m.get'])
    indented = micro.parse(['      SERVER a 1', 'ROUTE /x$', '\t\t GET m.get'])
    assert flat == indented
