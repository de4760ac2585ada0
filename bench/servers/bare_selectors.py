"""The floor: a bare `selectors` loop that answers every request with one canned reply.

python bare_selectors.py PORT

No HTTP parsing: each `\\r\\n\\r\\n` seen in what arrives counts as one
request (so pipelining works; a body without one, like the 1 KiB echo body,
is ignored), and the reply is always `{"ping":"pong"}` whatever the path: it
is a reference for how fast Python can move bytes on this machine, not a
server. A request carrying `Connection: close` gets a reply saying so and
the socket is closed.
"""
import selectors
import socket
import sys

BODY = b'{"ping":"pong"}'
REPLY = (b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n'
         % len(BODY)) + BODY
CLOSE_REPLY = (b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n'
               b'Content-Length: %d\r\n\r\n' % len(BODY)) + BODY


def main(port):
    sel = selectors.DefaultSelector()
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(('127.0.0.1', port))
    listener.listen(1024)
    listener.setblocking(False)
    sel.register(listener, selectors.EVENT_READ, None)
    tails = {}

    while True:
        for key, _ in sel.select():
            sock = key.fileobj
            if sock is listener:
                try:
                    while True:
                        conn, _ = listener.accept()
                        conn.setblocking(False)
                        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                        sel.register(conn, selectors.EVENT_READ, None)
                        tails[conn] = b''
                except (BlockingIOError, InterruptedError):
                    pass
                continue
            try:
                data = sock.recv(65536)
            except (BlockingIOError, InterruptedError):
                continue
            except OSError:
                data = b''
            if not data:
                sel.unregister(sock)
                tails.pop(sock, None)
                sock.close()
                continue
            data = tails[sock] + data
            count = data.count(b'\r\n\r\n')
            tails[sock] = data[data.rfind(b'\r\n\r\n') + 4:][-3:] if count else data[-3:]
            if not count:
                continue
            if b'onnection: close' in data or b'onnection: Close' in data:
                try:
                    sock.send(CLOSE_REPLY)
                except OSError:
                    pass
                sel.unregister(sock)
                tails.pop(sock, None)
                sock.close()
                continue
            try:
                sock.sendall(REPLY * count)
            except OSError:
                sel.unregister(sock)
                tails.pop(sock, None)
                sock.close()


if __name__ == '__main__':
    main(int(sys.argv[1]))
