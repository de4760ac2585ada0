"""CONNECTION and RESOURCE directives made callable: `micro.connection.NAME.RES(...)`.

A resource call returns a partial, like `Connection.get`: positional
arguments fill the `{…}` parts of the path, then the REQUIRED names;
keywords fill OPTIONAL names; REQUIRED and OPTIONAL values form the body.
Setting `.mock` on a connection answers every resource from that object.
"""
import json
import logging
import re
import string
import time
import urllib.parse

from micro import MicroError

from rhc import observe
from rhc.calls import Call
from rhc.client import Connection
from rhc.config import validator
from rhc.errors import CallError
from rhc.importer import ImportFromStringError, resolve

log = logging.getLogger('rhc.connection')
_PLACEHOLDER = re.compile(r'{([^{}]*)}')


def _optional(path, node):
    return None if path is None else resolve(path, node)


class HeaderValue:
    """A HEADER's value per call: code(), else the config setting, else the default."""

    def __init__(self, header, settings, connection_name):
        self.key = header.key
        self.code = _optional(header.code, header)
        self.setting = f'connection.{connection_name}.header.{header.config}' if header.config else None
        self.settings = settings
        self.default = header.default

    def value(self):
        if self.code is not None:
            return self.code()
        if self.setting is not None:
            configured = self.settings.get(self.setting)
            if configured is not None:
                return configured
        return self.default


class Resource:
    """One RESOURCE of a micro CONNECTION."""

    def __init__(self, model, owner, settings):
        self.name = model.name
        self.owner = owner
        self.method = model.method.upper()
        self.path = model.path
        self.placeholders = [name for _, name, _, _ in string.Formatter().parse(model.path)
                             if name is not None]
        self._tokens = ['{' + name + '}' for name in self.placeholders]
        self.required = [r.name for r in model.required]
        self._expected = len(self.placeholders) + len(self.required)    # positional arguments
        self.optional = []
        for opt in model.optional:
            try:
                check = validator(opt.validate) if opt.validate else None
            except ImportFromStringError as e:
                raise MicroError(opt.source, opt.line, str(e)) from None
            if opt.config and opt.config not in settings:
                raise MicroError(opt.source, opt.line, f"unknown setting '{opt.config}'")
            self.optional.append((opt.name, opt.default, opt.config, check))
        self.optional_names = frozenset(name for name, *_ in self.optional)
        self.headers = [HeaderValue(h, settings, owner._name) for h in model.headers]
        self.trace = model.trace
        self.options = {}
        for key in ('is_json', 'is_form', 'timeout'):
            value = getattr(model, key)
            if value is not None:
                self.options[key] = value
        for key in ('handler', 'wrapper', 'setup'):
            fn = _optional(getattr(model, key), model)
            if fn is not None:
                self.options[key] = fn
        self.settings = settings

    def __repr__(self):
        return f'<Resource {self.owner._name}.{self.name} {self.method} {self.path}>'

    def __call__(self, *args, **kwargs):
        """A partial for these arguments; given a callback first, start the call now.

        `resource(1, 'ann')` is a partial, as `Connection.get` returns;
        `resource(callback, 1, 'ann')` makes the resource an async callable,
        which is what `request.call(resource, args=...)` and `Task.call` run.
        """
        if len(args) == self._expected + 1 and callable(args[0]):
            return self.partial(*args[1:], **kwargs)(args[0])
        return self.partial(*args, **kwargs)

    def partial(self, *args, **kwargs):
        expected = self._expected
        if len(args) != expected:
            names = ', '.join(self.placeholders + self.required) or 'none'
            raise TypeError(f'{self.owner._name}.{self.name}() takes {expected} positional '
                            f'arguments ({names}), got {len(args)}')
        if kwargs:
            unknown = set(kwargs) - self.optional_names
            if unknown:
                raise TypeError(f'{self.owner._name}.{self.name}() got unexpected keyword '
                                f'arguments: {", ".join(sorted(unknown))}')
        path = self.path
        for token, value in zip(self._tokens, args):
            text = str(value)
            if not (text.isalnum() and text.isascii()):     # digits and letters need no quoting
                text = urllib.parse.quote(text, safe='')
            path = path.replace(token, text, 1)
        body = dict(zip(self.required, args[len(self.placeholders):])) if self.required else {}
        for name, default, config, check in self.optional:
            if name in kwargs:
                value = kwargs[name]
            elif config is not None and self.settings.get(config) is not None:
                value = self.settings.get(config)
            else:
                value = default
            if value is not None and check is not None:
                try:
                    value = check(value)
                except ValueError as e:
                    raise ValueError(f'{self.owner._name}.{self.name}: bad value for {name}: '
                                     f'{e}') from None
            if value is not None:
                body[name] = value
        return Call(self.owner._call, self, path, body or None)


class MicroConnection:
    """A CONNECTION from a micro file: its resources as attributes, and `.mock`.

    Every RESOURCE is reachable by its own name, whatever it is: the
    connection's own state lives in `_` names, so a resource called `url`,
    `call` or `headers` is still that resource. `mock` is the one public
    attribute, so a RESOURCE may not be named `mock` (or start with `_`).
    """

    def __init__(self, model, settings, loop=None):
        self._name = model.name
        self._settings = settings
        self._loop = loop
        self._prefix = f'connection.{model.name}.'
        self._code = _optional(model.code, model)
        self._hooks = {key: _optional(getattr(model, key), model)
                       for key in ('handler', 'wrapper', 'setup')}
        self._is_json = model.is_json
        self._is_form = model.is_form
        self._headers = [HeaderValue(h, settings, model.name) for h in model.headers]
        self._client = None
        self._client_url = None
        # Fixed once loaded; the url may not be (a `code=` callable gives it per call).
        self._counted = False       # count each call in the metrics (a service with METRICS)
        self._active = settings[self._prefix + 'is_active']
        self._verbose = settings[self._prefix + 'is_verbose']
        self.mock = None
        self._resources = {}
        for name, res in model.resources.items():
            if name == 'mock' or name.startswith('_'):
                raise MicroError(res.source, res.line,
                                 f"RESOURCE name '{name}' is reserved: "
                                 f"connection.{model.name}.{name} has another meaning")
            self._resources[name] = self.__dict__[name] = Resource(res, self, settings)

    def __getattr__(self, name):
        raise AttributeError(f"connection '{self.__dict__.get('_name')}' has no resource '{name}'")

    def __repr__(self):
        return f'<MicroConnection {self._name}>'

    def _url(self):
        return self._code() if self._code is not None else self._settings[self._prefix + 'url']

    def _connection(self):
        """The client Connection for the current url (remade when the url changes)."""
        if self._code is None and self._client is not None:
            return self._client     # a url from the settings does not change once loaded
        url = self._url()
        if self._client is None or self._client_url != url:
            if not url:
                raise CallError(f'connection {self._name} has no url')
            self._client = Connection(
                url, is_json=self._is_json, is_form=self._is_form,
                timeout=self._settings[self._prefix + 'timeout'],
                loop=self._loop, **{k: v for k, v in self._hooks.items() if v is not None})
            self._client_url = url
        return self._client

    def _call(self, callback, resource, path, body):
        """Start `resource` with its path and body; `callback(rc, result)` when done.

        Returns the call's handle (its `cancel()` abandons it).
        """
        headers = {}
        if self._headers or resource.headers:
            for header in self._headers + resource.headers:
                value = header.value()
                if value is not None:
                    headers[header.key] = value
        if self.mock is not None:
            return self._call_mock(resource, path, headers, body, callback)
        if not self._active:
            return callback(1, CallError(f'connection {self._name} is not active'))
        try:
            connection = self._connection()
        except (CallError, ValueError) as e:
            return callback(1, e if isinstance(e, CallError) else CallError(str(e)))
        verbose = self._verbose and log.isEnabledFor(logging.INFO)
        if not verbose and not resource.trace and not self._counted:
            # What connection.request(...)(callback) does, without the Call in between.
            return connection._start(callback, resource.method, path, body, headers or None,
                                     resource.options or None)
        started = time.monotonic()
        name, counted = self._name, self._counted
        if resource.trace:
            log.debug('%s.%s send %s %s headers=%s body=%s', name, resource.name,
                      resource.method, path, headers, json.dumps(body))

        def done(rc, result):
            elapsed = time.monotonic() - started
            if counted:
                observe.client_call(name, resource.name, rc, result, elapsed)
            if verbose:
                log.info('%s.%s %s %s%s %s %.2fms', name, resource.name, resource.method,
                         connection.url, path, 'ok' if rc == 0 else f'failed: {result}',
                         elapsed * 1000)
            if resource.trace:
                log.debug('%s.%s received rc=%s %r', name, resource.name, rc, result)
            callback(rc, result)
        return connection.request(resource.method, path, body, headers, **resource.options)(done)

    def _call_mock(self, resource, path, headers, body, callback):
        try:
            fn = getattr(self.mock, resource.name)
            result = fn(resource.method, path, headers, body)
        except Exception as e:
            return callback(1, e)
        callback(0, result)
