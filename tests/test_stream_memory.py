"""A client that reads nothing costs a launched server a bounded buffer, never the stream.

The service runs under `python -m rhc.launch`; a client asks for a 200 MiB
generator (64 KiB chunks) or a 100 MiB file, with a small receive buffer,
and reads nothing. Once the server has stopped taking chunks, its VmRSS
has grown by well under 30 MiB; then the client reads everything, and h11
counts exactly the bytes promised.
"""
import time

import h11
import pytest

from conftest import Launched
from docs_support import fetch
from stream_support import H11Client, service_lines

pytestmark = pytest.mark.slow

MIB = 1024 * 1024
BOUND = 30 * MIB


@pytest.fixture
def service(tmp_path):
    micro = tmp_path / 'streams.micro'
    micro.write_text('\n'.join(service_lines()) + '\n')
    with open(tmp_path / 'sparse.bin', 'wb') as f:
        f.truncate(100 * MIB)       # on disk it takes nothing; read, it is 100 MiB of zeros
    launched = Launched([str(micro), '--no-access-log'],
                        env={'SERVER_S_HOST': '127.0.0.1', 'STREAM_TEST_FILES': str(tmp_path)})
    try:
        yield launched.wait_listening()
    finally:
        launched.kill()


def rss(pid):
    with open(f'/proc/{pid}/status') as f:
        for line in f:
            if line.startswith('VmRSS:'):
                return int(line.split()[1]) * 1024
    raise AssertionError('no VmRSS')


def pulled(port):
    return fetch(port, 'GET', '/state').json['pulled']


def settle(port, pid, timeout=15.0):
    """Wait until the server stops taking chunks and its RSS stops moving: (rss, pulled)."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        now = (rss(pid), pulled(port))
        if last is not None and abs(now[0] - last[0]) < MIB and now[1] == last[1]:
            return now
        last = now
        time.sleep(0.5)
    raise AssertionError(f'the server never settled: {last}')


def count_body(client):
    total = 0
    while True:
        event = client.next_event()
        if isinstance(event, h11.EndOfMessage):
            return total
        total += len(event.data)


@pytest.mark.parametrize('target, size', [
    ('/big?mib=200', 200 * MIB),
    ('/file/sparse.bin', 100 * MIB),
], ids=['generator', 'file'])
def test_a_reader_that_reads_nothing_costs_a_bounded_buffer(service, target, size):
    port, pid = service.port(), service.proc.pid
    for _ in range(3):
        pulled(port)        # warm: the first requests allocate what every request reuses
    before = rss(pid)
    client = H11Client(port, timeout=30, rcvbuf=64 * 1024)
    try:
        client.request('GET', target)
        after, chunks = settle(port, pid)
        assert after - before < BOUND, f'RSS grew by {(after - before) / MIB:.1f} MiB'
        assert chunks * 64 * 1024 < BOUND
        status, fields = client.head()
        assert status == 200
        assert count_body(client) == size
    finally:
        client.close()
    if target.startswith('/big'):
        assert pulled(port) == 200 * 16
        assert fetch(port, 'GET', '/state').json['events'] == ['big finished', 'big closed']
