"""The plain model a micro source parses into.

Nothing here does I/O or imports handler code: dotted paths stay strings
until the runtime resolves them. Every object remembers the source and line
that made it, so the runtime can report its own errors at the right place.
Values are already converted to their Python types (ports and timeouts are
numbers, flags are bools); `default` values stay the strings the file wrote,
because only the runtime knows how to coerce them.
"""
from dataclasses import dataclass, field
import re


@dataclass
class Node:
    source: str = field(default='<lines>', kw_only=True)
    line: int = field(default=0, kw_only=True)

    @property
    def where(self):
        """`source:line`, the prefix of every message about this node."""
        return f'{self.source}:{self.line}'


@dataclass
class Enum(Node):
    name: str
    items: list
    to_upper: bool = False
    to_lower: bool = False


@dataclass
class Arg(Node):
    """Coercion of one regex group; `type` is a builtin name or a dotted path."""
    type: str | None = None
    enum: str | None = None


@dataclass
class Content(Node):
    name: str
    type: str | None = None
    enum: str | None = None
    is_required: bool = True
    default: str | None = None


@dataclass
class Method(Node):
    verb: str                      # 'GET', 'POST', 'PUT', 'PATCH', 'DELETE'
    handler: str                   # dotted path
    contents: list = field(default_factory=list)
    auth: str | None = None        # None: the server's; 'none': no check; else a dotted path


@dataclass
class Route(Node):
    pattern: str
    regex: re.Pattern
    args: list = field(default_factory=list)       # [Arg], one per leading group
    methods: dict = field(default_factory=dict)    # verb -> Method, file order
    silent: bool = False


@dataclass
class OpenAPI(Node):
    """Where a server serves its OpenAPI document and, with `docs`, a page to try it."""
    path: str
    title: str                     # the server's name unless OPENAPI says otherwise
    version: str = '0.1.0'
    docs: str | None = None


@dataclass
class Metrics(Node):
    """Where a server serves the service's metrics in the Prometheus text format."""
    path: str


@dataclass
class Server(Node):
    name: str
    port: int
    routes: list = field(default_factory=list)
    auth: str | None = None        # dotted path or None
    openapi: OpenAPI | None = None
    metrics: Metrics | None = None


@dataclass
class Header(Node):
    key: str
    default: str | None = None
    config: str | None = None
    code: str | None = None


@dataclass
class Required(Node):
    name: str


@dataclass
class Optional(Node):
    name: str
    default: str | None = None
    config: str | None = None
    validate: str | None = None


@dataclass
class Resource(Node):
    """One call on a connection; None in a field means: use the connection's."""
    name: str
    path: str
    method: str = 'GET'
    is_json: bool | None = None
    timeout: float | None = None
    trace: bool = False
    is_form: bool | None = None
    handler: str | None = None
    wrapper: str | None = None
    setup: str | None = None
    headers: list = field(default_factory=list)
    required: list = field(default_factory=list)
    optional: list = field(default_factory=list)


@dataclass
class Connection(Node):
    name: str
    url: str | None = None
    is_json: bool = True
    is_form: bool = False
    timeout: float = 5.0
    is_verbose: bool = True
    handler: str | None = None
    wrapper: str | None = None
    setup: str | None = None
    code: str | None = None
    headers: list = field(default_factory=list)
    resources: dict = field(default_factory=dict)  # name -> Resource, file order


@dataclass
class Config(Node):
    name: str
    default: str | None = None
    validate: str | None = None    # 'int', 'float', 'bool', 'file' or a dotted path
    env: str | None = None


@dataclass
class Setup(Node):
    handler: str


@dataclass
class Teardown(Node):
    handler: str


@dataclass
class Service:
    """Everything one micro source (with its IMPORTs) describes."""
    source: str = '<lines>'
    servers: dict = field(default_factory=dict)      # name -> Server
    connections: dict = field(default_factory=dict)  # name -> Connection
    enums: dict = field(default_factory=dict)        # name -> Enum
    configs: dict = field(default_factory=dict)      # name -> Config
    setups: list = field(default_factory=list)
    teardowns: list = field(default_factory=list)
