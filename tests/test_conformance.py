"""Every kind of response rhc sends parses cleanly with h11 acting as the client.

h11 (an independent, strict HTTP/1.1 implementation) writes the request,
the bytes go over a real socket to a launched service, and what comes back
is fed to `h11.Connection(h11.CLIENT)`: it must be Response, Data*,
EndOfMessage (after any 100 Continue), never `h11.RemoteProtocolError` --
for each return-value type, 404, 405, HEAD, protocol 400s, 413/414/431,
500, 204/304, delayed answers, keep-alive and close, HTTP/1.0.
"""
import socket

import h11
import pytest

from conftest import Launched

ROUTES = {
    '/dict': 'ret_dict', '/list': 'ret_list', '/str': 'ret_str', '/bytes': 'ret_bytes',
    '/none': 'ret_none', '/int': 'ret_int', '/int204': 'ret_int_204', '/pair': 'ret_pair',
    '/triple': 'ret_triple', '/typed': 'ret_typed_triple', '/message': 'respond_message',
    '/teapot': 'http_error', '/conflict': 'http_error_no_message', '/boom': 'boom',
    '/s204body': 'attack_status_204_with_body', '/s304body': 'attack_status_304_with_body',
    '/injected': 'attack_header_injection', '/delayed': 'delayed', '/big': 'big',
    '/json': 'just_json', '/twice': 'respond_twice', '/delayed_twice': 'delayed_twice',
}
SERVICE = ['SERVER api 0']
for path, handler in ROUTES.items():
    SERVICE += [f'  ROUTE {path}$', f'    GET handlers.{handler}']
SERVICE += ['  ROUTE /jsonpost$', '    POST handlers.just_json',
            '  ROUTE /post$', '    POST handlers.body_size', '    PUT handlers.body_size',
            '  ROUTE /typed/(\\d+)$', '    ARG int', '    GET handlers.typed',
            '  ROUTE /content$', '    POST handlers.typed', '      CONTENT n type=int']
ENV = {'SERVER_API_HOST': '127.0.0.1', 'SERVER_API_MAX_BODY': '100000',
       'SERVER_API_MAX_REQUEST_LINE': '1024', 'SERVER_API_MAX_HEADER': '4096',
       'SERVER_API_MAX_HEADER_FIELDS': '20'}


@pytest.fixture(scope='module')
def port(tmp_path_factory):
    path = tmp_path_factory.mktemp('conformance') / 'conformance.micro'
    path.write_text('\n'.join(SERVICE) + '\n')
    launched = Launched([str(path), '--no-access-log'], env=ENV)
    try:
        yield launched.wait_listening().port()
    finally:
        launched.kill()


class H11Client:
    """One socket, driven by an h11 client connection."""

    def __init__(self, port):
        self.sock = socket.create_connection(('127.0.0.1', port), timeout=5)
        self.conn = h11.Connection(h11.CLIENT)

    def send(self, *events, raw=None):
        data = b''.join(self.conn.send(e) for e in events)
        self.sock.sendall(raw if raw is not None else data)

    def request(self, method, target, headers=(), body=None, version='1.1', raw=None):
        headers = [('Host', 'conformance.test'), *headers]
        if body is not None and not any(n.lower() in ('content-length', 'transfer-encoding')
                                        for n, _ in headers):
            headers.append(('Content-Length', str(len(body))))
        events = [h11.Request(method=method, target=target, headers=headers,
                              http_version=version)]
        if body:
            events.append(h11.Data(data=body))
        events.append(h11.EndOfMessage())
        self.send(*events, raw=raw)

    def events(self):
        """Everything up to EndOfMessage: [InformationalResponse*, Response, Data*, EOM]."""
        out = []
        while True:
            event = self.conn.next_event()
            if event is h11.NEED_DATA:
                self.conn.receive_data(self.sock.recv(65536))
                continue
            out.append(event)
            if isinstance(event, (h11.EndOfMessage, h11.ConnectionClosed)):
                return out

    def response(self):
        """(Response, body) after checking the event sequence."""
        events = self.events()
        while events and isinstance(events[0], h11.InformationalResponse):
            events.pop(0)
        assert isinstance(events[0], h11.Response), events
        assert all(isinstance(e, h11.Data) for e in events[1:-1]), events
        assert isinstance(events[-1], h11.EndOfMessage), events
        response = events[0]
        headers = {n.decode().lower(): v.decode('latin-1') for n, v in response.headers}
        assert 'date' in headers and 'x-request-id' in headers
        if response.status_code in (204, 304) or response.status_code < 200:
            assert 'content-length' not in headers
        else:
            assert 'content-length' in headers and 'transfer-encoding' not in headers
        return response, headers, b''.join(bytes(e.data) for e in events[1:-1])

    def next_cycle_or_closed(self):
        """Keep-alive: ready for the next request. Close: the server closed the socket."""
        if self.conn.their_state is h11.MUST_CLOSE or self.conn.our_state is h11.MUST_CLOSE:
            self.sock.settimeout(2)
            assert self.sock.recv(1) == b''
            self.conn.receive_data(b'')
            assert self.conn.next_event() is h11.ConnectionClosed or isinstance(
                self.conn.next_event(), h11.ConnectionClosed)
            return 'closed'
        assert self.conn.our_state is h11.DONE and self.conn.their_state is h11.DONE
        self.conn.start_next_cycle()
        return 'keep-alive'

    def close(self):
        self.sock.close()


KINDS = [
    # (method, target, request headers, body, status, body check)
    ('GET', '/dict', [], None, 200, lambda b: b == b'{"kind": "dict"}'),
    ('GET', '/list', [], None, 200, lambda b: b == b'[1, "two", 3]'),
    ('GET', '/str', [], None, 200, lambda b: b == 'héllo'.encode()),
    ('GET', '/bytes', [], None, 200, lambda b: b == b'\x00\x01\xff'),
    ('GET', '/none', [], None, 200, lambda b: b == b''),
    ('GET', '/int', [], None, 202, lambda b: b == b''),
    ('GET', '/int204', [], None, 204, lambda b: b == b''),
    ('GET', '/pair', [], None, 201, lambda b: b == b'{"created": true}'),
    ('GET', '/triple', [], None, 203, lambda b: b == b'with headers'),
    ('GET', '/typed', [], None, 200, lambda b: b == b'<p>hi</p>'),
    ('GET', '/message', [], None, 299, lambda b: b == b'custom'),
    ('GET', '/twice', [], None, 201, lambda b: b'first' in b),
    ('GET', '/delayed_twice', [], None, 200, lambda b: b == b'first'),
    ('GET', '/teapot', [], None, 418, lambda b: b'short and stout' in b),
    ('GET', '/conflict', [], None, 409, lambda b: b'error' in b),
    ('GET', '/boom', [], None, 500, lambda b: b'internal server error' in b),
    ('GET', '/injected', [], None, 500, lambda b: b'evil' not in b),
    ('GET', '/s204body', [], None, 204, lambda b: b == b''),
    ('GET', '/s304body', [], None, 304, lambda b: b == b''),
    ('GET', '/delayed?ms=30', [], None, 200, lambda b: b'"delayed": 30' in b),
    ('GET', '/big?n=300000', [], None, 200, lambda b: len(b) == 300000),
    ('GET', '/nowhere', [], None, 404, lambda b: b'not found' in b),
    ('DELETE', '/dict', [], None, 405, lambda b: b'not allowed' in b),
    ('HEAD', '/dict', [], None, 200, lambda b: b == b''),
    ('HEAD', '/big?n=5000', [], None, 200, lambda b: b == b''),
    ('HEAD', '/nowhere', [], None, 404, lambda b: b == b''),
    ('GET', '/typed/notanumber', [], None, 404, None),
    ('GET', '/typed/12', [], None, 200, lambda b: b'"args": [12]' in b),
    ('POST', '/content', [('Content-Type', 'application/json')], b'{"n": "x"}', 400,
     lambda b: b'"field": "n"' in b),
    ('POST', '/jsonpost', [('Content-Type', 'application/json')], b'{not json', 400, None),
    ('POST', '/post', [], b'x' * 5000, 200, lambda b: b'"size": 5000' in b),
    ('PUT', '/post', [('Transfer-Encoding', 'chunked')], b'y' * 3000, 200,
     lambda b: b'"size": 3000' in b),
    ('POST', '/post', [('Expect', '100-continue')], b'z' * 100, 200,
     lambda b: b'"size": 100' in b),
    ('GET', '/dict', [('Connection', 'close')], None, 200, None),
    ('GET', '/' + 'a' * 2000, [], None, 414, None),
    ('GET', '/dict', [(f'X-H{i}', 'v') for i in range(30)], None, 431, None),
    ('GET', '/dict', [('X-Big', 'v' * 5000)], None, 431, None),
    ('POST', '/post', [], b'x' * 100001, 413, None),
]


@pytest.mark.parametrize('kind', KINDS, ids=[f'{k[0]} {k[1][:30]} {k[4]}' for k in KINDS])
def test_every_kind_of_response_parses_with_h11(port, kind):
    method, target, headers, body, status, check = kind
    client = H11Client(port)
    try:
        client.request(method, target, headers, body)
        response, got_headers, got_body = client.response()
        assert response.status_code == status, got_body
        assert response.http_version == b'1.1'
        if check is not None:
            assert check(got_body), got_body
        state = client.next_cycle_or_closed()
        if status in (413, 414, 431):
            assert state == 'closed'        # protocol-level rejections close
        elif ('Connection', 'close') in headers:
            assert state == 'closed'
        else:
            assert state == 'keep-alive'
            client.request('GET', '/dict')
            again, _, again_body = client.response()
            assert (again.status_code, again_body) == (200, b'{"kind": "dict"}')
    finally:
        client.close()


@pytest.mark.parametrize('raw, status', [
    (b'GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n',
     400),
    (b'GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n', 400),
    (b'GET / HTTP/1.1\r\nHost: x\r\nBad Name: 1\r\n\r\n', 400),
    (b'GET / HTTP/1.1\r\nHost: x\r\nX: a\r\n folded\r\n\r\n', 400),
    (b'GET / HTTP/1.1\r\n\r\n', 400),
    (b'GET /\xff HTTP/1.1\r\nHost: x\r\n\r\n', 400),
    (b'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n', 400),
    (b'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n', 501),
    (b'GET / HTTP/1.7\r\nHost: x\r\n\r\n', 505),
])
def test_protocol_rejections_parse_with_h11(port, raw, status):
    """h11 thinks it sent a plain GET; the wire carries the bad request instead."""
    client = H11Client(port)
    try:
        client.request('GET', '/', raw=raw)
        response, headers, body = client.response()
        assert response.status_code == status
        assert headers.get('connection') == 'close'
        assert b'"error"' in body
        assert client.next_cycle_or_closed() == 'closed'
    finally:
        client.close()


def test_many_kinds_in_one_keep_alive_connection(port):
    """One socket, one h11 connection: every keep-alive kind in turn."""
    client = H11Client(port)
    try:
        for method, target, headers, body, status, check in KINDS:
            if status in (400, 413, 414, 431) or ('Connection', 'close') in headers:
                continue
            client.request(method, target, headers, body)
            response, _, got_body = client.response()
            assert response.status_code == status, target
            if check is not None:
                assert check(got_body), (target, got_body)
            assert client.next_cycle_or_closed() == 'keep-alive'
    finally:
        client.close()


def test_pipelined_requests_parse_with_h11(port):
    """Three requests written at once; h11 reads the three answers in order."""
    client = H11Client(port)
    try:
        wire = b''
        for target in ('/dict', '/delayed?ms=20', '/list'):
            wire += (b'GET %s HTTP/1.1\r\nHost: x\r\n\r\n' % target.encode())
        client.request('GET', '/dict', raw=wire)
        bodies = []
        for i in range(3):
            response, _, body = client.response()
            assert response.status_code == 200
            bodies.append(body)
            client.conn.start_next_cycle()
            if i < 2:    # h11 only reads a response to a request it believes it sent
                client.send(h11.Request(method='GET', target='/', headers=[('Host', 'x')]),
                            h11.EndOfMessage(), raw=b'')
        assert bodies[0] == b'{"kind": "dict"}' and b'"delayed": 20' in bodies[1]
        assert bodies[2] == b'[1, "two", 3]'
    finally:
        client.close()


@pytest.mark.parametrize('connection, state', [(None, 'closed'), ('keep-alive', 'keep-alive'),
                                               ('close', 'closed')])
def test_http_1_0_parses_with_h11(port, connection, state):
    client = H11Client(port)
    try:
        # h11 only writes HTTP/1.1: it believes it sent that, the wire says 1.0
        extra = b'Connection: %s\r\n' % connection.encode() if connection else b''
        client.request('GET', '/dict', raw=b'GET /dict HTTP/1.0\r\n' + extra + b'\r\n')
        response, headers_got, body = client.response()
        assert response.status_code == 200 and body == b'{"kind": "dict"}'
        if state == 'keep-alive':
            assert headers_got.get('connection', '').lower() == 'keep-alive'
            # h11 closes a 1.0 connection regardless; the server must not have
            client.sock.sendall(b'GET /list HTTP/1.0\r\nConnection: keep-alive\r\n\r\n')
            assert client.sock.recv(65536).startswith(b'HTTP/1.1 200 OK\r\n')
        else:
            client.sock.settimeout(2)
            assert client.sock.recv(1) == b''
    finally:
        client.close()
