"""Settings: directive defaults, then a config file, then the environment."""
import pytest

import micro
from micro import MicroError
from rhc.config import env_name, load_settings

SOURCE = [
    'SERVER api 8080',
    'CONNECTION backend http://127.0.0.1:9000 timeout=2.5',
    'HEADER x-token config=token',
    'CONFIG greeting default=hello env=GREETING',
    'CONFIG retries default=3 validate=int env=RETRIES',
    'CONFIG debug default=no validate=bool',
    'CONFIG ratio validate=float',
]


@pytest.fixture
def model():
    return micro.parse(SOURCE)


def test_defaults_come_from_the_directives(model):
    settings = load_settings(model, environ={})
    assert settings['server.api.port'] == 8080
    assert settings['server.api.is_active'] is True
    assert settings['server.api.ssl.is_active'] is False
    assert settings['server.api.max_body'] == 10 * 1024 * 1024
    assert settings['server.api.max_header'] == 64 * 1024
    assert settings['server.api.max_request_line'] == 8 * 1024
    assert settings['server.api.max_header_fields'] == 100
    assert settings['server.api.header_timeout'] == 10.0
    assert settings['server.api.idle_timeout'] == 60.0
    assert settings['connection.backend.url'] == 'http://127.0.0.1:9000'
    assert settings['connection.backend.timeout'] == 2.5
    assert settings['connection.backend.header.token'] is None
    assert settings['greeting'] == 'hello'
    assert settings['retries'] == 3
    assert settings['debug'] is False
    assert settings['ratio'] is None


def test_config_file_overrides_defaults(model, tmp_path):
    path = tmp_path / 'service.conf'
    path.write_text('# overrides\nserver.api.port = 9999\n\nretries=5  # more\n'
                    'connection.backend.header.token=secret\ndebug=YES\n')
    settings = load_settings(model, str(path), environ={})
    assert settings['server.api.port'] == 9999
    assert settings['retries'] == 5
    assert settings['debug'] is True
    assert settings['connection.backend.header.token'] == 'secret'
    origins = {s.key: s.origin for s in settings}
    assert origins['server.api.port'] == f'{path}:2'
    assert origins['greeting'] == 'default (<lines>:4)'


def test_environment_overrides_the_config_file(model, tmp_path):
    path = tmp_path / 'service.conf'
    path.write_text('server.api.port=9999\nretries=5\n')
    settings = load_settings(model, str(path), environ={
        'SERVER_API_PORT': '7777', 'RETRIES': '9', 'GREETING': 'hi',
        'CONNECTION_BACKEND_HEADER_TOKEN': 'from-env'})
    assert settings['server.api.port'] == 7777
    assert settings['retries'] == 9
    assert settings['greeting'] == 'hi'
    assert settings['connection.backend.header.token'] == 'from-env'
    assert {s.key: s.origin for s in settings}['retries'] == 'env RETRIES'


def test_a_dict_config_works_like_a_file(model):
    settings = load_settings(model, {'server.api.port': 0, 'debug': True}, environ={})
    assert settings['server.api.port'] == 0
    assert settings['debug'] is True


def test_env_names():
    assert env_name('server.api.max_body') == 'SERVER_API_MAX_BODY'
    assert env_name('connection.my-api.header.X-Key') == 'CONNECTION_MY_API_HEADER_X_KEY'


@pytest.mark.parametrize('text, message', [
    ('nonsense.key=1\n', "unknown setting 'nonsense.key'"),
    ('server.api.port=abc\n', "bad value for server.api.port: invalid literal for int() with base 10: 'abc'"),
    ('debug=maybe\n', "bad value for debug: not a boolean: 'maybe'"),
    ('just a line\n', "expected key=value, got 'just a line'"),
])
def test_config_file_errors_name_file_and_line(model, tmp_path, text, message):
    path = tmp_path / 'bad.conf'
    path.write_text('# first line is a comment\n' + text)
    with pytest.raises(MicroError) as e:
        load_settings(model, str(path), environ={})
    assert str(e.value) == f'{path}:2: {message}'


def test_bad_env_value_names_the_variable(model):
    with pytest.raises(MicroError) as e:
        load_settings(model, environ={'RETRIES': 'many'})
    assert str(e.value).startswith('env RETRIES: bad value for retries')


def test_missing_config_file(model, tmp_path):
    with pytest.raises(MicroError) as e:
        load_settings(model, str(tmp_path / 'nope.conf'), environ={})
    assert 'cannot read config file' in str(e.value)


def test_file_validator(tmp_path):
    real = tmp_path / 'cert.pem'
    real.write_text('x')
    model = micro.parse([f'CONFIG cert default={real} validate=file'])
    assert load_settings(model, environ={})['cert'] == str(real)
    model = micro.parse([f'CONFIG cert default={tmp_path}/missing validate=file'])
    with pytest.raises(MicroError) as e:
        load_settings(model, environ={})
    assert str(e.value).startswith('<lines>:1: bad default for cert: no such file')


def test_dotted_path_validator():
    model = micro.parse(['CONFIG level default=warning validate=handlers.upper'])
    assert load_settings(model, environ={})['level'] == 'WARNING'
    model = micro.parse(['CONFIG level validate=handlers.no_such_function'])
    with pytest.raises(MicroError) as e:
        load_settings(model, environ={})
    assert str(e.value) == ("<lines>:1: cannot import 'handlers.no_such_function': "
                            "'handlers' has no attribute 'no_such_function'")
