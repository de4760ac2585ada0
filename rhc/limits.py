"""A server's limits (SPEC §5): one table, read by the config, the service and the server.

Each field is a setting `server.NAME.<field>` (env `SERVER_NAME_<FIELD>`),
validated by the field's type; the default is the field's default.
"""
import dataclasses

from rhc.http import MAX_BODY, MAX_HEADER, MAX_HEADER_FIELDS, MAX_REQUEST_LINE


@dataclasses.dataclass(frozen=True)
class Limits:
    max_request_line: int = MAX_REQUEST_LINE    # bytes, else 414
    max_header: int = MAX_HEADER                # bytes, else 431
    max_header_fields: int = MAX_HEADER_FIELDS  # fields, else 431
    max_body: int = MAX_BODY                    # bytes, else 413
    header_timeout: float = 10.0                # seconds to send a whole request
    idle_timeout: float = 60.0                  # seconds a keep-alive connection may idle


def settings():
    """(name, type, default) of every limit, in table order."""
    return [(f.name, f.type, f.default)
            for f in dataclasses.fields(Limits)]
