"""Open many keep-alive connections, one request each, and leave them idle.

    python idle_client.py PORT COUNT [PATH]

Keeps at most BATCH connections connecting or waiting for their answer at a
time (so a server's listen backlog never overflows), and prints one JSON line
when every connection has its answer: {"opened", "failed", "seconds"}. It
then holds them all open until a line (or EOF) arrives on stdin, prints
{"closed_by_server"} (connections the server closed meanwhile) and exits,
closing them. The benchmark reads the server's RSS in between.
"""
import errno
import json
import resource
import selectors
import socket
import sys
import time

BATCH = 64
TIMEOUT = 60.0


def raise_open_files():
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    except (ValueError, OSError):
        pass    # the harness raised it already, as far as it could


def answered(data):
    """True once `data` holds a whole response with a Content-Length body."""
    head, sep, body = data.partition(b'\r\n\r\n')
    if not sep:
        return False
    for line in head.split(b'\r\n')[1:]:
        name, _, value = line.partition(b':')
        if name.strip().lower() == b'content-length':
            return len(body) >= int(value)
    return True


def open_all(port, count, path):
    request = f'GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n'.encode()
    sel = selectors.DefaultSelector()
    idle, failed, started = [], 0, 0
    pending = {}        # socket -> bytes received so far, or None while connecting
    deadline = time.monotonic() + TIMEOUT
    while (started < count or pending) and time.monotonic() < deadline:
        while started < count and len(pending) < BATCH:
            sock = socket.socket()
            sock.setblocking(False)
            err = sock.connect_ex(('127.0.0.1', port))
            started += 1
            if err not in (0, errno.EINPROGRESS):
                sock.close()
                failed += 1
                continue
            pending[sock] = None
            sel.register(sock, selectors.EVENT_WRITE)
        for key, _ in sel.select(timeout=1.0):
            sock = key.fileobj
            if pending[sock] is None:
                if sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) or \
                        sock.send(request) != len(request):
                    sel.unregister(sock)
                    del pending[sock]
                    sock.close()
                    failed += 1
                    continue
                pending[sock] = b''
                sel.modify(sock, selectors.EVENT_READ)
                continue
            try:
                chunk = sock.recv(65536)
            except OSError:
                chunk = b''
            if not chunk:
                sel.unregister(sock)
                del pending[sock]
                sock.close()
                failed += 1
                continue
            pending[sock] += chunk
            if answered(pending[sock]):
                sel.unregister(sock)
                del pending[sock]
                idle.append(sock)
    failed += len(pending) + (count - started)
    for sock in pending:
        sock.close()
    return idle, failed


def closed_by_server(sockets):
    """How many of the idle sockets the server has closed (readable at EOF)."""
    sel = selectors.DefaultSelector()
    for sock in sockets:
        sel.register(sock, selectors.EVENT_READ)
    closed = 0
    for key, _ in sel.select(timeout=0):
        try:
            if key.fileobj.recv(1, socket.MSG_PEEK) == b'':
                closed += 1
        except OSError:
            closed += 1
    return closed


def main(port, count, path='/test/ping'):
    raise_open_files()
    t0 = time.monotonic()
    idle, failed = open_all(port, count, path)
    print(json.dumps({'opened': len(idle), 'failed': failed,
                      'seconds': time.monotonic() - t0}), flush=True)
    sys.stdin.readline()
    print(json.dumps({'closed_by_server': closed_by_server(idle)}), flush=True)
    for sock in idle:
        sock.close()


if __name__ == '__main__':
    main(int(sys.argv[1]), int(sys.argv[2]), *sys.argv[3:4])
