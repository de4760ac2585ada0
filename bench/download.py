"""One download as fast as the harness can read it: the seconds a whole answer takes.

The request asks for `Connection: close`, so the answer ends when the
server closes, whatever its framing (Content-Length or chunked); the bytes
are counted, not kept.
"""
import socket
import time

READ_SIZE = 1024 * 1024


def download(port, path, timeout=60.0):
    """(bytes received, head included; seconds from the request to the server's close)."""
    buffer = bytearray(READ_SIZE)
    view = memoryview(buffer)
    with socket.create_connection(('127.0.0.1', port), timeout=timeout) as sock:
        start = time.perf_counter()
        sock.sendall(f'GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n'
                     'Connection: close\r\n\r\n'.encode())
        total = 0
        while True:
            n = sock.recv_into(view)
            if not n:
                return total, time.perf_counter() - start
            total += n
