"""Settings: defaults from the micro file, then a config file, then the environment.

Each setting knows its validator and where its value came from, so
`--config-only` can say why a value is what it is. Errors are
`micro.MicroError`, naming the config file and line (or the env variable).
"""
import os
import re

from micro import MicroError

from rhc import limits
from rhc.apidocs import SWAGGER_UI, ui_base
from rhc.importer import ImportFromStringError, import_by_path

TRUE = {'true', 'yes', '1', 'on'}
FALSE = {'false', 'no', '0', 'off'}


def to_bool(value):
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in TRUE:
        return True
    if text in FALSE:
        return False
    raise ValueError(f"not a boolean: '{value}'")


def to_file(value):
    if not os.path.isfile(value):
        raise ValueError(f"no such file: '{value}'")
    return value


def to_optional_str(value):
    return value


VALIDATORS = {'int': int, 'float': float, 'bool': to_bool, 'file': to_file, None: to_optional_str}


def validator(name):
    """The callable a `validate=` or `type=` name stands for."""
    if name in VALIDATORS:
        return VALIDATORS[name]
    return import_by_path(name)


def strip_comment(line):
    """A config line without its `#` comment; `\\#` is a literal `#`."""
    if '#' not in line:
        return line
    kept, i = [], 0
    while i < len(line):
        char = line[i]
        if char == '\\' and line[i + 1:i + 2] == '#':
            kept.append('#')
            i += 2
            continue
        if char == '#':
            break
        kept.append(char)
        i += 1
    return ''.join(kept)


def env_name(key):
    """`server.api.max_body` -> `SERVER_API_MAX_BODY`."""
    return re.sub(r'[.\-]', '_', key).upper()


class Setting:
    __slots__ = ('key', 'value', 'validate', 'env', 'origin')

    def __init__(self, key, value, validate, env, origin):
        self.key = key
        self.value = value
        self.validate = validate
        self.env = env
        self.origin = origin


class Settings:
    """An ordered set of named settings with their provenance."""

    def __init__(self):
        self._settings = {}

    def define(self, key, default, validate=to_optional_str, env=None, origin='default'):
        """Add a setting; `default` (a string or a value) goes through `validate`."""
        value = default
        if isinstance(default, str):
            value = validate(default)
        self._settings[key] = Setting(key, value, validate, env, origin)

    def __contains__(self, key):
        return key in self._settings

    def __getitem__(self, key):
        return self._settings[key].value

    def get(self, key, default=None):
        setting = self._settings.get(key)
        return default if setting is None else setting.value

    def __iter__(self):
        return iter(self._settings.values())

    def set(self, key, text, origin):
        """Set `key` from `text`; ValueError says what was wrong with it."""
        setting = self._settings[key]
        try:
            setting.value = setting.validate(text)
        except ValueError as e:
            raise ValueError(f"bad value for {key}: {e}") from None
        setting.origin = origin

    def load_file(self, path):
        """Apply `key=value` lines from `path`; unknown keys and bad values are errors."""
        try:
            with open(path, encoding='utf-8') as f:
                lines = f.read().splitlines()
        except OSError as e:
            raise MicroError(path, 0, f'cannot read config file: {e.strerror}') from None
        for number, line in enumerate(lines, 1):
            text = strip_comment(line).strip()
            if not text:
                continue
            if '=' not in text:
                raise MicroError(path, number, f"expected key=value, got '{text}'")
            key, value = (part.strip() for part in text.split('=', 1))
            if key not in self._settings:
                raise MicroError(path, number, f"unknown setting '{key}'")
            try:
                self.set(key, value, f'{path}:{number}')
            except ValueError as e:
                raise MicroError(path, number, str(e)) from None

    def apply(self, values, origin):
        """Set several settings from a dict (as `load_server(config={...})` does)."""
        for key, value in values.items():
            if key not in self._settings:
                raise MicroError(origin, 0, f"unknown setting '{key}'")
            try:
                self.set(key, value if isinstance(value, str) else str(value), origin)
            except ValueError as e:
                raise MicroError(origin, 0, str(e)) from None

    def load_env(self, environ=None):
        """Apply environment variables; a bad value names the variable."""
        environ = os.environ if environ is None else environ
        for setting in self._settings.values():
            if setting.env and setting.env in environ:
                try:
                    self.set(setting.key, environ[setting.env], f'env {setting.env}')
                except ValueError as e:
                    raise MicroError(f'env {setting.env}', 0, str(e)) from None


def define_service_settings(settings, service):
    """Define every setting the directives of `service` (a micro model) imply."""
    for name, server in service.servers.items():
        prefix = f'server.{name}.'
        entries = [
            ('port', int, server.port),
            ('host', str, '0.0.0.0'),
            ('is_active', to_bool, True),
            ('ssl.is_active', to_bool, False),
            ('ssl.certfile', to_optional_str, None),
            ('ssl.keyfile', to_optional_str, None),
        ] + limits.settings()
        if server.openapi is not None:
            entries.append(('openapi.ui_url', ui_base, SWAGGER_UI))
        for suffix, validate, default in entries:
            key = prefix + suffix
            settings.define(key, default, validate, env_name(key), f'default ({server.where})')
    for name, connection in service.connections.items():
        prefix = f'connection.{name}.'
        entries = [
            ('url', to_optional_str, connection.url),
            ('timeout', float, connection.timeout),
            ('is_active', to_bool, True),
            ('is_verbose', to_bool, connection.is_verbose),
        ]
        headers = list(connection.headers)
        for resource in connection.resources.values():
            headers.extend(resource.headers)
        for header in headers:
            if header.config:
                entries.append((f'header.{header.config}', to_optional_str, None))
        for suffix, validate, default in entries:
            key = prefix + suffix
            settings.define(key, default, validate, env_name(key), f'default ({connection.where})')
    for name, config in service.configs.items():
        try:
            validate = validator(config.validate)
        except ImportFromStringError as e:
            raise MicroError(config.source, config.line, str(e)) from None
        try:
            settings.define(name, config.default, validate, config.env, f'default ({config.where})')
        except ValueError as e:
            raise MicroError(config.source, config.line, f'bad default for {name}: {e}') from None


def load_settings(service, config=None, environ=None):
    """The service's settings with the config (a file path or a dict) and environment applied."""
    settings = Settings()
    define_service_settings(settings, service)
    if isinstance(config, dict):
        settings.apply(config, 'config')
    elif config:
        settings.load_file(config)
    settings.load_env(environ)
    return settings
