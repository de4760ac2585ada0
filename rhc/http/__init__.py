"""Sans-IO HTTP/1.1: the request and response parsers, and the one writer.

Bytes go in with ``feed``; complete ``Request`` or ``Response`` objects come
out of ``next_request`` / ``next_response``; ``writer`` turns responses and
requests back into bytes. Nothing here touches a socket, a clock or a loop.
Malformed input raises ``ProtocolError`` carrying the status to answer with.
"""
from .fields import (MAX_BODY, MAX_CHUNK_LINE, MAX_HEADER, MAX_HEADER_FIELDS,
                     MAX_INTERIM_RESPONSES, MAX_LEADING_EMPTY_LINES, MAX_REQUEST_LINE, Headers,
                     ProtocolError)
from .parsers import RequestParser, ResponseParser
from .reader import Request, Response
from .writer import request_bytes, request_fields, request_head, response_head

__all__ = ['MAX_BODY', 'MAX_CHUNK_LINE', 'MAX_HEADER', 'MAX_HEADER_FIELDS',
           'MAX_INTERIM_RESPONSES', 'MAX_LEADING_EMPTY_LINES', 'MAX_REQUEST_LINE', 'Headers',
           'ProtocolError', 'RequestParser', 'ResponseParser', 'Request', 'Response',
           'request_bytes', 'request_fields', 'request_head', 'response_head']
