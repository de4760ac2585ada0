"""ARG and CONTENT: coercion of path groups and of body/query/form fields, over HTTP
(the test client, rhc.testing.Client)."""
import pytest

import rhc.testing

JSON = 'application/json; charset=utf-8'

SERVICE = [
    'ENUM color RED GREEN BLUE to_upper=yes',
    'ENUM size small large to_lower=true',
    'ENUM exact One Two',
    'SERVER api 0',
    r'ROUTE /int/([^/]+)$', 'ARG int', 'GET handlers.typed',
    r'ROUTE /float/([^/]+)$', 'ARG float', 'GET handlers.typed',
    r'ROUTE /count/([^/]+)$', 'ARG count', 'GET handlers.typed',
    r'ROUTE /bool/([^/]+)$', 'ARG bool', 'GET handlers.typed',
    r'ROUTE /color/([^/]+)$', 'ARG enum=color', 'GET handlers.typed',
    r'ROUTE /size/([^/]+)$', 'ARG enum=size', 'GET handlers.typed',
    r'ROUTE /exact/([^/]+)$', 'ARG enum=exact', 'GET handlers.typed',
    r'ROUTE /slug/([^/]+)$', 'ARG handlers.slug', 'GET handlers.typed',
    r'ROUTE /raw/([^/]+)/([^/]+)$', 'ARG', 'ARG int', 'GET handlers.typed',
    r'ROUTE /named/([^/]+)/(?P<second>[^/]+)$', 'ARG int', 'ARG int', 'GET handlers.typed',
    r'ROUTE /optional(?:/(\d+))?$', 'ARG int', 'GET handlers.typed',
    r'ROUTE /content$',
    'GET handlers.typed',
    'CONTENT name',
    'CONTENT age type=int is_required=no default=7',
    'POST handlers.typed',
    'CONTENT name',
    'CONTENT age type=int is_required=no default=7',
    'CONTENT ratio float is_required=no',
    'CONTENT n count is_required=no',
    'CONTENT flag bool is_required=no default=false',
    'CONTENT color enum=color is_required=no',
    'CONTENT size enum=size is_required=no default=LARGE',
    'CONTENT kind handlers.slug is_required=no',
]


@pytest.fixture(scope='module')
def api():
    """One service for the module: these tests only read."""
    with rhc.testing.Client(SERVICE) as client:
        yield client


def call(api, method, path, **body):
    """(status, decoded JSON) of one call; `body` is `json=`, or `data=` and `headers=`."""
    answer = api.request(method, path, **body)
    assert answer.headers['Content-Type'] == JSON
    return answer.status, answer.json()


# -- ARG -------------------------------------------------------------------

@pytest.mark.parametrize('path, value, kind', [
    ('/int/42', 42, 'int'),
    ('/int/-3', -3, 'int'),
    ('/float/2.5', 2.5, 'float'),
    ('/float/3', 3.0, 'float'),
    ('/count/1', 1, 'int'),
    ('/count/99', 99, 'int'),
    ('/bool/true', True, 'bool'),
    ('/bool/No', False, 'bool'),
    ('/bool/1', True, 'bool'),
    ('/color/red', 'RED', 'str'),
    ('/color/Green', 'GREEN', 'str'),
    ('/size/LARGE', 'large', 'str'),
    ('/exact/One', 'One', 'str'),
    ('/slug/a-b', 'slug:a-b', 'str'),
])
def test_arg_coerced(api, path, value, kind):
    status, document = call(api, 'GET', path)
    assert status == 200, document
    assert document['args'] == [value]
    assert document['types'] == [kind]


@pytest.mark.parametrize('path', [
    '/int/4x', '/int/1.5', '/float/abc', '/count/0', '/count/-1', '/count/x',
    '/bool/maybe', '/color/purple', '/size/medium', '/exact/one', '/slug/NotASlug',
])
def test_arg_failure_is_400_naming_arg1(api, path):
    status, document = call(api, 'GET', path)
    assert status == 400
    assert document['field'] == 'arg1'
    assert isinstance(document['error'], str) and document['error']


def test_arg_without_type_is_the_raw_string(api):
    status, document = call(api, 'GET', '/raw/caf%C3%A9/5')
    assert status == 200
    assert document['args'] == ['café', 5]


def test_arg_failure_names_its_position(api):
    status, document = call(api, 'GET', '/raw/x/y')
    assert (status, document['field']) == (400, 'arg2')


def test_arg_failure_names_a_named_group(api):
    assert call(api, 'GET', '/named/1/2')[1]['args'] == [1, 2]
    status, document = call(api, 'GET', '/named/x/2')
    assert (status, document['field']) == (400, 'arg1')
    status, document = call(api, 'GET', '/named/1/y')
    assert (status, document['field']) == (400, 'second')


def test_unmatched_optional_group_is_none(api):
    assert call(api, 'GET', '/optional')[1]['args'] == [None]
    assert call(api, 'GET', '/optional/8')[1]['args'] == [8]


# -- CONTENT ---------------------------------------------------------------

def test_content_from_json_body(api):
    status, document = call(api, 'POST', '/content', json={
        'name': 'ann', 'age': 40, 'ratio': 0.5, 'n': 3, 'flag': True,
        'color': 'blue', 'size': 'Small', 'kind': 'x-y', 'ignored': 1})
    assert status == 200, document
    assert document['kwargs'] == {'name': 'ann', 'age': 40, 'ratio': 0.5, 'n': 3, 'flag': True,
                                  'color': 'BLUE', 'size': 'small', 'kind': 'slug:x-y'}
    assert document['kwtypes'] == {'name': 'str', 'age': 'int', 'ratio': 'float', 'n': 'int',
                                   'flag': 'bool', 'color': 'str', 'size': 'str', 'kind': 'str'}


def test_content_from_query_string(api):
    status, document = call(api, 'GET', '/content?name=bob&age=12')
    assert status == 200, document
    assert document['kwargs'] == {'name': 'bob', 'age': 12}


def test_content_from_form_body(api):
    status, document = call(api, 'POST', '/content',
                            data={'name': 'cy', 'age': '5', 'flag': 'yes', 'ratio': '1.25'})
    assert status == 200, document
    assert document['kwargs'] == {'name': 'cy', 'age': 5, 'flag': True, 'ratio': 1.25,
                                  'size': 'large'}


def test_content_defaults_and_optional_fields(api):
    status, document = call(api, 'POST', '/content', json={'name': 'dee'})
    assert status == 200
    # Defaults are coerced like sent values; optional fields with no default are left out.
    assert document['kwargs'] == {'name': 'dee', 'age': 7, 'flag': False, 'size': 'large'}
    assert document['kwtypes']['age'] == 'int'


def test_content_json_body_wins_over_query(api):
    status, document = call(api, 'POST', '/content?name=query&age=1', json={'name': 'json'})
    assert status == 200
    assert document['kwargs']['name'] == 'json'
    assert document['kwargs']['age'] == 1      # not in the body: the query's


def test_content_query_wins_over_form(api):
    status, document = call(api, 'POST', '/content?name=query', data={'name': 'form', 'age': '3'})
    assert status == 200
    assert document['kwargs']['name'] == 'query'
    assert document['kwargs']['age'] == 3


def test_content_query_last_value_wins(api):
    assert call(api, 'GET', '/content?name=a&name=b')[1]['kwargs']['name'] == 'b'


def test_missing_required_content_is_400(api):
    status, document = call(api, 'POST', '/content', json={'age': 1})
    assert status == 400
    assert document['field'] == 'name'
    assert 'name' in document['error']
    status, document = call(api, 'GET', '/content')
    assert (status, document['field']) == (400, 'name')


@pytest.mark.parametrize('field, value', [
    ('age', 'old'), ('age', 1.5), ('age', True), ('ratio', 'half'), ('n', 0), ('n', '-2'),
    ('flag', 'perhaps'), ('color', 'purple'), ('color', 3), ('size', 'huge'), ('kind', 'UP'),
])
def test_content_failure_is_400_naming_the_field(api, field, value):
    status, document = call(api, 'POST', '/content', json={'name': 'ann', field: value})
    assert status == 400, document
    assert document['field'] == field
    assert isinstance(document['error'], str) and document['error']


def test_content_failure_from_query_and_form(api):
    status, document = call(api, 'GET', '/content?name=a&age=x')
    assert (status, document['field']) == (400, 'age')
    status, document = call(api, 'POST', '/content', data={'name': 'a', 'n': '0'})
    assert (status, document['field']) == (400, 'n')


def test_malformed_json_with_content_is_400(api):
    status, document = call(api, 'POST', '/content', data=b'{"name": "ann"',
                            headers={'Content-Type': 'application/json'})
    assert status == 400
    assert 'JSON' in document['error']


def test_json_body_that_is_not_an_object_is_400(api):
    status, document = call(api, 'POST', '/content', json=['ann'])
    assert status == 400
    assert 'object' in document['error']


def test_server_keeps_serving_after_bad_input(api):
    for _ in range(3):
        call(api, 'GET', '/int/nope')
    assert call(api, 'GET', '/int/1') == (200, {'args': [1], 'types': ['int'], 'kwargs': {},
                                               'kwtypes': {}})
