"""Every MicroError the parser raises, by its exact text."""
import random
from pathlib import Path

import pytest

import micro

S = 'SERVER s 0'
R = 'ROUTE /x$'


def error_of(source):
    with pytest.raises(micro.MicroError) as info:
        micro.parse(source)
    return info.value


@pytest.mark.parametrize('lines, message', [
    # lexing and binding
    (['FOO a'], "<lines>:1: unknown directive 'FOO'"),
    (['', '# c', 'SERVER =1'], "<lines>:3: missing parameter name in '=1'"),
    ([S, 'ROUTE /x bar=1'], "<lines>:2: unknown parameter 'bar' for ROUTE"),
    (['SERVER s'], "<lines>:1: missing parameter 'port' for SERVER"),
    (['SERVER s 1 2'], '<lines>:1: too many parameters for SERVER'),
    (['SERVER s 1 name=t'], "<lines>:1: duplicate parameter 'name'"),
    (['SERVER s port=1 port=2'], "<lines>:1: duplicate parameter 'port'"),
    (['ENUM e'], "<lines>:1: missing parameter 'items' for ENUM"),
    (['ENUM e a b items=c'], "<lines>:1: duplicate parameter 'items'"),
    # values
    (['SERVER s abc'], "<lines>:1: port must be an integer: 'abc'"),
    (['SERVER s 70000'], '<lines>:1: port out of range: 70000'),
    (['SERVER s -1'], '<lines>:1: port out of range: -1'),
    (['CONNECTION c is_json=maybe'], "<lines>:1: bad boolean for is_json: 'maybe'"),
    (['CONNECTION c timeout=soon'], "<lines>:1: timeout must be a number: 'soon'"),
    ([S, R, 'SILENT maybe'], "<lines>:3: bad boolean for flag: 'maybe'"),
    ([S, R, 'GET ping'], "<lines>:3: handler must be a dotted path: 'ping'"),
    (['SETUP a..b'], "<lines>:1: handler must be a dotted path: 'a..b'"),
    ([S, 'ROUTE (', 'GET m.get'],
     "<lines>:2: invalid regex '(': missing ), unterminated subpattern at position 0"),
    ([S, 'ROUTE /x/(\\d+)$', 'ARG int', 'ARG int'],
     "<lines>:4: ARG with no group left in ROUTE '/x/(\\d+)$'"),
    ([S, R, 'ARG'], "<lines>:3: ARG with no group left in ROUTE '/x$'"),
    ([S, 'ROUTE /(.*)', 'ARG integer'], "<lines>:3: unknown type 'integer'"),
    ([S, R, 'GET m.get', 'CONTENT a type=str'], "<lines>:4: unknown type 'str'"),
    ([S, 'ROUTE /(.*)', 'ARG enum=color'], "<lines>:3: unknown enum 'color'"),
    ([S, R, 'GET m.get', 'CONTENT a enum=shape', 'ENUM color red'],
     "<lines>:4: unknown enum 'shape'"),
    (['ENUM e a to_upper=1 to_lower=1'], '<lines>:1: to_upper and to_lower are exclusive'),
    (['CONNECTION c', 'RESOURCE r /r method=FETCH'], "<lines>:2: unknown method 'FETCH'"),
    (['CONFIG c validate=str'], "<lines>:1: unknown validate 'str'"),
    (['CONFIG c abc int'], "<lines>:1: default must be an integer: 'abc'"),
    (['CONFIG c 1.x float'], "<lines>:1: default must be a number: '1.x'"),
    (['CONFIG c maybe bool'], "<lines>:1: bad boolean for default: 'maybe'"),
    (['CONNECTION c', 'RESOURCE r /r', 'OPTIONAL o x validate=int'],
     "<lines>:3: default must be an integer: 'x'"),
    (['CONNECTION c', 'HEADER h'], '<lines>:2: HEADER needs one of default, config or code'),
    # place
    (['GET m.get'], '<lines>:1: GET before any ROUTE'),
    ([S, 'DELETE m.delete'], '<lines>:2: DELETE before any ROUTE'),
    (['ROUTE /x'], '<lines>:1: ROUTE before any SERVER'),
    (['ARG int'], '<lines>:1: ARG before any ROUTE'),
    (['SILENT'], '<lines>:1: SILENT before any ROUTE'),
    (['OPENAPI /doc'], '<lines>:1: OPENAPI before any SERVER'),
    (['AUTH m.check'], '<lines>:1: AUTH before any SERVER'),
    (['RESOURCE r /r'], '<lines>:1: RESOURCE before any CONNECTION'),
    (['HEADER h 1'], '<lines>:1: HEADER before any CONNECTION'),
    (['CONNECTION c', 'REQUIRED a'], '<lines>:2: REQUIRED before any RESOURCE'),
    (['CONNECTION c', 'OPTIONAL a'], '<lines>:2: OPTIONAL before any RESOURCE'),
    ([S, R, 'CONTENT a'], '<lines>:3: CONTENT before any method'),
    ([S, R, 'GET m.get', 'ROUTE /y', 'CONTENT a'], '<lines>:5: CONTENT before any method'),
    ([S, R, 'AUTH m.check'], "<lines>:3: AUTH after ROUTE '/x$' with no method"),
    # duplicates
    (['SERVER a 1', 'SERVER a 2'], "<lines>:2: duplicate server 'a'"),
    (['SERVER a 12345', 'SERVER b 12345'],
     '<lines>:2: duplicate server port 12345 (first at <lines>:1)'),
    (['CONNECTION x', 'CONNECTION x'], "<lines>:2: duplicate connection 'x'"),
    (['CONNECTION x', 'RESOURCE y /', 'RESOURCE y /'],
     "<lines>:3: duplicate resource 'y' in connection 'x'"),
    (['CONNECTION x', 'RESOURCE y /', 'REQUIRED a', 'OPTIONAL a'],
     "<lines>:4: duplicate argument 'a' in resource 'y'"),
    (['ENUM color red', 'ENUM color blue'], "<lines>:2: duplicate enum 'color'"),
    (['CONFIG c', 'CONFIG c'], "<lines>:2: duplicate config 'c'"),
    ([S, R, 'GET m.a', 'POST m.b', 'get m.c'], "<lines>:5: duplicate GET on ROUTE '/x$'"),
    ([S, R, 'GET m.a', 'CONTENT a', 'CONTENT a'], "<lines>:5: duplicate content 'a'"),
    ([S, 'AUTH m.a', 'AUTH m.b'], '<lines>:3: duplicate AUTH'),
    ([S, R, 'GET m.a', 'AUTH none', 'AUTH m.b'], '<lines>:5: duplicate AUTH'),
    ([S, 'OPENAPI /a', 'OPENAPI /b'], '<lines>:3: duplicate OPENAPI (first at <lines>:2)'),
    ([S, 'OPENAPI /a', 'SERVER t 1', 'OPENAPI /a docs=/d', 'OPENAPI /b'],
     '<lines>:5: duplicate OPENAPI (first at <lines>:4)'),
    ([S, 'OPENAPI'], "<lines>:2: missing parameter 'path' for OPENAPI"),
    ([S, 'OPENAPI openapi.json'], "<lines>:2: path must start with '/': 'openapi.json'"),
    ([S, 'OPENAPI /doc?x'], "<lines>:2: path must not hold a query string: '/doc?x'"),
    ([S, 'OPENAPI /doc docs=docs'], "<lines>:2: docs must start with '/': 'docs'"),
    ([S, 'OPENAPI /doc docs=/doc'], "<lines>:2: OPENAPI docs is the document's own path: '/doc'"),
    ([S, 'OPENAPI /doc colour=red'], "<lines>:2: unknown parameter 'colour' for OPENAPI"),
    ([S, 'OPENAPI /doc t 1 /d extra'], '<lines>:2: too many parameters for OPENAPI'),
    ([S, R, 'OPENAPI /doc', 'GET m.get', 'OPENAPI /b'],
     '<lines>:5: duplicate OPENAPI (first at <lines>:3)'),
    # probes and metrics
    (['HEALTH /health'], '<lines>:1: HEALTH before any SERVER'),
    (['READY /ready'], '<lines>:1: READY before any SERVER'),
    (['METRICS /metrics'], '<lines>:1: METRICS before any SERVER'),
    ([S, 'HEALTH'], "<lines>:2: missing parameter 'path' for HEALTH"),
    ([S, 'READY check=m.ok'], "<lines>:2: missing parameter 'path' for READY"),
    ([S, 'HEALTH health'], "<lines>:2: path must start with '/': 'health'"),
    ([S, 'READY /ready?x'], "<lines>:2: path must not hold a query string: '/ready?x'"),
    ([S, 'METRICS metrics'], "<lines>:2: path must start with '/': 'metrics'"),
    ([S, 'READY /ready check=ok'], "<lines>:2: check must be a dotted path: 'ok'"),
    ([S, 'READY /ready m.ok extra'], '<lines>:2: too many parameters for READY'),
    ([S, 'HEALTH /h check=m.ok'], "<lines>:2: unknown parameter 'check' for HEALTH"),
    ([S, 'HEALTH /a', 'HEALTH /b'], '<lines>:3: duplicate HEALTH (first at <lines>:2)'),
    ([S, 'READY /a', R, 'GET m.get', 'READY /b'], '<lines>:5: duplicate READY (first at <lines>:2)'),
    ([S, 'METRICS /a', 'METRICS /b'], '<lines>:3: duplicate METRICS (first at <lines>:2)'),
    ([S, 'HEALTH /p', 'READY /p'], "<lines>:3: READY path '/p' is taken by HEALTH (at <lines>:2)"),
    ([S, 'READY /p', 'METRICS /p'], "<lines>:3: METRICS path '/p' is taken by READY (at <lines>:2)"),
    ([S, 'OPENAPI /o docs=/d', 'HEALTH /d'],
     "<lines>:3: HEALTH path '/d' is taken by OPENAPI docs (at <lines>:2)"),
    ([S, 'METRICS /m', 'OPENAPI /m'], "<lines>:3: OPENAPI path '/m' is taken by METRICS (at <lines>:2)"),
    ([S, 'READY /r', 'OPENAPI /o docs=/r'],
     "<lines>:3: OPENAPI docs path '/r' is taken by READY (at <lines>:2)"),
    # sources
    ([S, 42], '<lines>:2: expected a line of text, not int'),
])
def test_error(lines, message):
    assert str(error_of(lines)) == message


def test_error_attributes():
    error = error_of(['SERVER s 0', 'FOO'])
    assert (error.source, error.line, error.message) == ('<lines>', 2, "unknown directive 'FOO'")
    assert isinstance(error, Exception)


def test_error_without_line():
    error = micro.MicroError('svc.micro', 0, 'no such file')
    assert str(error) == 'svc.micro: no such file'


def test_duplicate_port_names_the_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path('svc.micro').write_text('SERVER a 12345\nSERVER b 12345\n')
    assert str(error_of('svc.micro')) == \
        'svc.micro:2: duplicate server port 12345 (first at svc.micro:1)'


def test_import_missing_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path('svc.micro').write_text('# top\nIMPORT missing.micro\n')
    assert str(error_of('svc.micro')) == "svc.micro:2: IMPORT cannot open 'missing.micro'"


def test_error_inside_import_names_the_imported_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path('b.micro').write_text('\nGET m.get\n')
    assert str(error_of(['IMPORT b.micro'])) == 'b.micro:2: GET before any ROUTE'


def test_import_cycle(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path('a.micro').write_text('IMPORT b.micro\n')
    Path('b.micro').write_text('CONFIG x\nIMPORT a.micro\n')
    assert str(error_of('a.micro')) == 'b.micro:2: IMPORT cycle: a.micro -> b.micro -> a.micro'


def test_import_self(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path('a.micro').write_text('IMPORT a.micro\n')
    assert str(error_of(['IMPORT a.micro'])) == 'a.micro:1: IMPORT cycle: a.micro -> a.micro'


def test_import_too_deep(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for n in range(40):
        Path(f'{n}.micro').write_text(f'IMPORT {n + 1}.micro\n')
    assert str(error_of('0.micro')) == '32.micro:1: IMPORT nested deeper than 32'


def test_missing_top_level_file():
    error = error_of('nowhere')
    assert (str(error), error.line) == ('nowhere: no such file', 0)


def test_unreadable_top_level_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path('bad.micro').write_bytes(b'\xff\xfe\xfa')
    assert str(error_of('bad.micro')).startswith('bad.micro: cannot read: ')


def test_dotted_path_to_missing_package():
    assert str(error_of('no_such_pkg_xyz.service')) == \
        "no_such_pkg_xyz.service: no such file, nor package 'no_such_pkg_xyz'"


def test_dotted_path_to_missing_file(tmp_path, monkeypatch):
    (tmp_path / 'emptypkg').mkdir()
    (tmp_path / 'emptypkg' / '__init__.py').write_text('')
    monkeypatch.syspath_prepend(str(tmp_path))
    assert str(error_of('emptypkg.service')) == \
        "emptypkg.service: no such file, nor 'service.micro' in package 'emptypkg'"


def test_source_of_wrong_type():
    assert str(error_of(None)) == \
        '<source>: expected a path, a dotted path, text or a list of lines, not NoneType'


WORDS = ('SERVER ROUTE ARG GET POST CONTENT ENUM SILENT AUTH CONNECTION HEADER RESOURCE '
         'REQUIRED OPTIONAL CONFIG SETUP TEARDOWN OPENAPI HEALTH READY METRICS FOO a m.b none '
         'int count 0 1 70000 /p /q check=m.ok '
         'x=1 type=int enum=e default=1 validate=int port=1 name=a is_json=yes to_upper=1 '
         '( (\\d+) \\# \\= # = \\ . -1 nan 1e999 method=post items=z').split()


def test_random_lines_parse_or_raise_micro_error():
    """The parser's promise to a fuzzer: MicroError or a model, never anything else."""
    rng = random.Random(7)
    for _ in range(20000):
        lines = [' '.join(rng.choice(WORDS) for _ in range(rng.randint(0, 5)))
                 for _ in range(rng.randint(1, 8))]
        lines.append(''.join(chr(rng.randint(0, 0x2FF)) for _ in range(rng.randint(0, 20))))
        try:
            micro.parse(lines)
        except micro.MicroError:
            pass
