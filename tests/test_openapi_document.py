"""The OpenAPI document of a service (rhc.openapi), judged by openapi-spec-validator.

Every example's `--openapi` output and the document of a service that uses
every directive (tests/openapi_support.py) must pass the validator; the
document's parts (templates, operationIds, schemas, responses) are then
checked one by one.
"""
import json
import os
import subprocess
import sys

import pytest

import micro
from rhc.loop import Loop
from rhc.openapi import document, enum_schema, operation_ids
from rhc.routing import build_coercer
from rhc.service import Service

from docs_support import EXAMPLES, ROOT, TESTS, example
from openapi_support import EVERYTHING

validator = pytest.importorskip('openapi_spec_validator', reason='openapi-spec-validator is a test dependency')
V31 = validator.OpenAPIV31SpecValidator

EXAMPLE_NAMES = sorted(name for name in os.listdir(EXAMPLES)
                       if os.path.isfile(os.path.join(EXAMPLES, name, 'service.micro')))
ITEM = '/items/{item_id}/{arg2}/{arg3}/{arg4}/{arg5}/{arg6}/{arg7}'
METHODS = ('get', 'put', 'post', 'delete', 'patch')


def validate(doc):
    validator.validate(doc, cls=V31)


def service_of(lines, config=None):
    loop = Loop()
    try:
        return Service(micro.parse(lines), loop, config_file=config, environ={})
    finally:
        loop.close()


@pytest.fixture(scope='module')
def doc():
    return service_of(EVERYTHING).openapi_document('api')


def run_launch(*args):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([ROOT, TESTS]))
    done = subprocess.run([sys.executable, '-m', 'rhc.launch', *args], capture_output=True,
                          text=True, env=env, cwd=ROOT, timeout=20)
    return done.returncode, done.stdout, done.stderr


def operations(doc):
    """(path, method, operation) for every operation, those under x-rhc-also too."""
    for path, item in doc['paths'].items():
        for holder in [item] + item.get('x-rhc-also', []):
            for method in METHODS:
                if method in holder:
                    yield path, method, holder[method]


def refs(value):
    if isinstance(value, dict):
        if '$ref' in value:
            yield value['$ref']
        for inner in value.values():
            yield from refs(inner)
    elif isinstance(value, list):
        for inner in value:
            yield from refs(inner)


# -- the validator as the oracle -----------------------------------------------------

# Every micro file of every example: the async gateway beside the callback one.
MICRO_FILES = sorted(os.path.relpath(os.path.join(EXAMPLES, name, file), EXAMPLES)
                     for name in EXAMPLE_NAMES
                     for file in os.listdir(os.path.join(EXAMPLES, name)) if file.endswith('.micro'))


@pytest.mark.parametrize('micro_file', MICRO_FILES)
def test_every_example_prints_a_valid_document(micro_file):
    code, out, err = run_launch(os.path.join(EXAMPLES, micro_file), '--openapi')
    assert code == 0, err
    doc = json.loads(out)
    validate(doc)
    assert doc['openapi'] == '3.1.0'
    assert doc['paths']


def test_the_everything_service_document_is_valid(doc):
    validate(doc)


def test_validator_can_fail(doc):
    """The oracle is not asleep: a broken copy of the document is refused."""
    broken = json.loads(json.dumps(doc))
    del broken['paths'][ITEM]['parameters'][0]
    with pytest.raises(validator.validation.exceptions.OpenAPIValidationError):
        validate(broken)


# -- info, paths, templates ------------------------------------------------------------

def test_info_comes_from_the_directive(doc):
    assert doc['info'] == {'title': 'Everything', 'version': '1.2.3'}


def test_one_path_per_distinct_template(doc):
    assert list(doc['paths']) == [ITEM, '/items', '/any/{arg1}', '/same/{arg1}', '/merged']


def test_path_parameters_from_arg(doc):
    parameters = {p['name']: p for p in doc['paths'][ITEM]['parameters']}
    assert all(p['in'] == 'path' and p['required'] for p in parameters.values())
    schemas = {name: p['schema'] for name, p in parameters.items()}
    assert schemas == {
        'item_id': {'type': 'integer', 'minimum': 0, 'pattern': r'^\d+$'},
        'arg2': {'type': 'integer', 'minimum': 1, 'pattern': r'^\d+$'},
        'arg3': {'type': 'number', 'minimum': 0, 'pattern': r'^[\d.]+$'},
        'arg4': {'type': 'boolean', 'pattern': r'^\w+$'},
        'arg5': {'$ref': '#/components/schemas/color', 'pattern': r'^\w+$'},
        'arg6': {'type': 'string', 'description': 'checked by openapi_support.slug',
                 'pattern': '^[a-z-]+$'},
        'arg7': {'type': 'string', 'pattern': r'^\w+$'},
    }


def test_numbers_that_may_be_negative_have_no_minimum():
    lines = ['SERVER s 0', r'ROUTE /n/(-?\d+)/([1-9]\d*)$', 'ARG int', 'ARG int', 'GET m.get']
    model = micro.parse(lines)
    item = document(model.servers['s'], model.enums)['paths']['/n/{arg1}/{arg2}']
    first, second = (p['schema'] for p in item['parameters'])
    assert 'minimum' not in first
    assert second['minimum'] == 1


def test_an_inexact_pattern_is_kept_beside_its_template(doc):
    assert doc['paths']['/any/{arg1}']['get']['x-rhc-pattern'] == r'^/any/(a|b)$|^/other$'
    assert 'x-rhc-pattern' not in doc['paths']['/items']['post']


def test_clashing_templates_keep_both_routes(doc):
    item = doc['paths']['/same/{arg1}']
    assert item['parameters'][0]['schema']['pattern'] == r'^\d+$'
    assert item['get']['operationId'] == 'openapi_support.plain_get'
    [also] = item['x-rhc-also']
    assert also['x-rhc-pattern'] == '/same/([a-z]+)$'
    assert also['parameters'][0]['schema']['pattern'] == '^[a-z]+$'
    assert (also['get']['operationId'], also['patch']['operationId']) == \
        ('openapi_support.plain_get_2', 'openapi_support.plain_patch')


def test_same_template_with_other_methods_is_merged(doc):
    item = doc['paths']['/merged']
    assert (item['get']['summary'], item['post']['summary']) == ('Merged GET.', 'Merged POST.')
    assert 'x-rhc-also' not in item


def test_head_404_and_405_are_not_listed(doc):
    for path, method, op in operations(doc):
        assert not {'404', '405'} & set(op['responses'])
    assert all('head' not in item for item in doc['paths'].values())


# -- operations --------------------------------------------------------------------------

def test_operation_ids_are_unique_and_name_the_handler(doc):
    ids = [op['operationId'] for _, _, op in operations(doc)]
    assert sorted(ids) == sorted(f'openapi_support.{name}' for name in [
        'show', 'change_put', 'change_delete', 'change_get', 'create', 'plain_get',
        'plain_get_2', 'plain_patch', 'show_merged', 'create_merged'])


def test_operation_ids_suffix_until_unique():
    model = micro.parse(['SERVER s 0', 'ROUTE /a$', 'GET m.f', 'POST m.f_post', 'ROUTE /b$',
                         'POST m.f', 'ROUTE /c$', 'POST m.f', 'PUT m.g'])
    ids = list(operation_ids(model.servers['s']).values())
    assert ids == ['m.f_get', 'm.f_post', 'm.f_post_2', 'm.f_post_3', 'm.g']


def test_summary_and_description_from_the_docstring(doc):
    show = doc['paths'][ITEM]['get']
    assert show['summary'] == 'Show one item.'
    assert show['description'] == 'Every ARG type in one path, and CONTENT from the query.'
    create = doc['paths']['/items']['post']
    assert create['summary'] == 'Create an item.'            # an async def
    plain = doc['paths']['/same/{arg1}']['get']
    assert 'summary' not in plain and 'description' not in plain


def test_query_parameters_from_get_content(doc):
    parameters = {p['name']: p for p in doc['paths'][ITEM]['get']['parameters']}
    assert {n: (p['in'], p['required']) for n, p in parameters.items()} == {
        'verbose': ('query', False), 'state': ('query', False), 'limit': ('query', False),
        'q': ('query', True)}
    assert parameters['verbose']['schema'] == {'type': 'boolean'}
    assert parameters['state']['schema'] == {'$ref': '#/components/schemas/state', 'default': 'open'}
    assert parameters['limit']['schema'] == {'type': 'integer', 'default': 10}
    assert parameters['q']['schema'] == {'type': 'string'}


def test_request_body_from_post_content(doc):
    body = doc['paths']['/items']['post']['requestBody']
    assert body['required'] is True
    assert set(body['content']) == {'application/json', 'application/x-www-form-urlencoded'}
    json_ref = body['content']['application/json']['schema']['$ref']
    schemas = doc['components']['schemas']
    schema = schemas[json_ref.rsplit('/', 1)[1]]
    assert schema['type'] == 'object'
    assert schema['required'] == ['name', 'amount']
    assert schema['properties'] == {
        'name': {'description': 'not checked: any JSON value'},
        'amount': {'type': 'integer', 'minimum': 1},
        'tag': {'description': 'not checked: any JSON value', 'default': 'new'},
        'flag': {'type': 'boolean', 'default': False},
        'shout': {'$ref': '#/components/schemas/shout'},
    }
    form = schemas[body['content']['application/x-www-form-urlencoded']['schema']['$ref'].rsplit('/', 1)[1]]
    assert form['properties']['name'] == {'type': 'string'}
    assert form['properties']['amount'] == schema['properties']['amount']


def test_a_body_with_only_typed_content_is_one_component():
    model = micro.parse(['SERVER s 0', 'ROUTE /a$', 'POST m.f', 'CONTENT n type=int is_required=false'])
    doc = document(model.servers['s'], model.enums)
    body = doc['paths']['/a']['post']['requestBody']
    assert body['required'] is False
    assert {media['schema']['$ref'] for media in body['content'].values()} == \
        {'#/components/schemas/m.f.body'}
    assert 'required' not in doc['components']['schemas']['m.f.body']


# -- responses ---------------------------------------------------------------------------

def response_codes(doc, path, method):
    return list(doc['paths'][path][method]['responses'])


def test_responses_rhc_itself_gives(doc):
    assert response_codes(doc, ITEM, 'get') == ['200', '204', '400', '500', 'default']   # AUTH none
    assert response_codes(doc, ITEM, 'put') == ['200', '204', '400', '401', '500', 'default']
    assert response_codes(doc, ITEM, 'delete') == ['200', '204', '400', '401', '500', 'default']
    assert response_codes(doc, '/merged', 'get') == ['200', '204', '401', '500', 'default']
    assert response_codes(doc, '/merged', 'post') == ['200', '204', '400', '401', '500', 'default']


def test_auth_is_the_methods_else_the_servers(doc):
    assert 'x-rhc-auth' not in doc['paths'][ITEM]['get']
    assert doc['paths'][ITEM]['put']['x-rhc-auth'] == 'openapi_support.allow_admin'
    assert doc['paths'][ITEM]['delete']['x-rhc-auth'] == 'openapi_support.allow_token'


def test_error_bodies_are_components_referred_to(doc):
    components = doc['components']
    responses = components['responses']
    assert responses['rhc.BadRequest']['content']['application/json']['schema'] == \
        {'$ref': '#/components/schemas/rhc.BadRequest'}
    assert components['schemas']['rhc.BadRequest']['required'] == ['error']
    assert set(components['schemas']['rhc.BadRequest']['properties']) == {'error', 'field'}
    assert components['schemas']['rhc.ServerError']['required'] == ['error', 'id']
    assert responses['rhc.Unauthorized']['content']['application/json']['schema'] == \
        {'$ref': '#/components/schemas/rhc.Error'}
    assert 'content' not in responses['rhc.NoContent']
    assert responses['rhc.Handler']['content'] == {'*/*': {'schema': {}}}
    for _, _, op in operations(doc):
        assert all(set(r) == {'$ref'} for r in op['responses'].values())


def test_every_ref_resolves_and_every_component_is_used(doc):
    used = set(refs(doc))
    defined = {f'#/components/{section}/{name}'
               for section, items in doc['components'].items() for name in items}
    assert used == defined


def test_without_auth_there_is_no_401_anywhere():
    model = micro.parse(['SERVER s 0', 'ROUTE /a$', 'GET m.f', 'ROUTE /b$', 'GET m.g'])
    doc = document(model.servers['s'], model.enums)
    assert all('401' not in op['responses'] for _, _, op in operations(doc))
    assert 'rhc.Unauthorized' not in doc['components']['responses']
    assert 'rhc.BadRequest' not in doc['components']['responses']      # nothing to check


# -- enums -------------------------------------------------------------------------------

def test_enum_schemas(doc):
    schemas = doc['components']['schemas']
    assert schemas['size'] == {'type': 'string', 'enum': ['small', 'large']}
    assert schemas['color']['enum'] == ['RED', 'GREEN', 'BLUE']
    assert schemas['color']['x-rhc-fold'] == 'upper'
    assert 'Case-insensitive' in schemas['color']['description']
    assert schemas['state']['enum'] == ['open', 'done']
    assert schemas['shout']['enum'] == ['WORLD']          # 'hello' never passes once upper-cased


@pytest.mark.parametrize('items, fold', [
    (['red', 'Green', 'BLUE'], 'to_upper'), (['red', 'Green', 'BLUE'], 'to_lower'),
    (['a', 'B'], None), (['lower'], 'to_upper')])
def test_enum_lists_exactly_what_the_coercer_accepts(items, fold):
    """rhc's own coercer is the oracle: listed values pass, unlisted items do not."""
    lines = [f"ENUM e {' '.join(items)}" + (f' {fold}=true' if fold else '')]
    enums = micro.parse(lines).enums
    check = build_coercer(None, 'e', enums, enums['e'])
    schema = enum_schema(enums['e'])
    listed = schema.get('enum', [])
    folded = {'to_upper': str.upper, 'to_lower': str.lower, None: str}[fold]
    for item in items:
        for variant in {item, item.upper(), item.lower(), item.swapcase()}:
            try:
                got = check(variant)
            except ValueError:
                got = None
            assert got == (folded(variant) if folded(variant) in listed else None), variant
    if not listed:
        assert schema['not'] == {}


def test_enum_names_that_are_not_component_names_are_renamed():
    lines = ['ENUM a/b x', 'ENUM rhc.Error y', 'SERVER s 0', 'ROUTE /(\\w+)$', 'ARG enum=a/b',
             'GET m.f', 'CONTENT c enum=rhc.Error', 'CONTENT d']
    model = micro.parse(lines)
    doc = document(model.servers['s'], model.enums)
    validate(doc)
    schemas = doc['components']['schemas']
    assert schemas['a_b']['enum'] == ['x']
    assert schemas['rhc.Error_2']['enum'] == ['y']


# -- built once; a server without OPENAPI; --openapi ----------------------------------------

def test_document_is_built_once():
    service = service_of(EVERYTHING)
    assert service.openapi_document('api') is service.openapi_document('api')


def test_server_without_openapi_is_titled_by_its_name():
    doc = service_of(['SERVER plain 0', 'ROUTE /x$', 'GET openapi_support.plain']).openapi_document('plain')
    assert doc['info'] == {'title': 'plain', 'version': '0.1.0'}
    validate(doc)


def write(tmp_path, lines, name='service.micro'):
    path = tmp_path / name
    path.write_text('\n'.join(lines) + '\n')
    return str(path)


def test_launch_openapi_without_an_openapi_line(tmp_path):
    code, out, err = run_launch(write(tmp_path, ['SERVER first 0', 'ROUTE /x$', 'GET openapi_support.plain',
                                                 'SERVER second 0']), '--openapi')
    assert code == 0, err
    assert json.loads(out)['info']['title'] == 'first'


def test_launch_openapi_describes_the_first_server_with_openapi(tmp_path):
    code, out, err = run_launch(write(tmp_path, ['SERVER first 0', 'SERVER second 0',
                                                 'OPENAPI /o.json title=Second']), '--openapi')
    assert code == 0, err
    assert json.loads(out) == {'openapi': '3.1.0', 'info': {'title': 'Second', 'version': '0.1.0'},
                               'paths': {}}


def test_launch_openapi_is_indented_json(tmp_path):
    code, out, _ = run_launch(write(tmp_path, EVERYTHING), '--openapi')
    assert code == 0
    assert out.startswith('{\n  "openapi": "3.1.0",\n')


@pytest.mark.parametrize('lines, message', [
    (['SERVER s 0', 'OPENAPI docs'], "service.micro:2: path must start with '/': 'docs'"),
    (['SERVER s 0', 'ROUTE /x$', 'GET no_such_module_xyz.f'],
     "service.micro:3: cannot import 'no_such_module_xyz.f': no module named 'no_such_module_xyz'"),
    (['CONFIG x'], 'service.micro: --openapi: no SERVER to describe'),
])
def test_launch_openapi_errors_name_file_and_line(tmp_path, monkeypatch, lines, message):
    path = write(tmp_path, lines)
    code, out, err = run_launch(path, '--openapi')
    assert (code, out) == (1, '')
    assert err.strip() == message.replace('service.micro', path)
