"""The client scenarios: calls/s of rhc's Connection and its peers against one fixed server.

    python bench/client_bench.py [--duration S] [--repeat N] [--server aiohttp|rhc]

(`python bench/run.py` runs these too, after the servers; `--client` runs only
these and writes bench/RESULTS.md.)

The fixed server is bench/servers/aiohttp_app.py by default (aiohttp's C
parser, independent of rhc, so work on rhc's hot path moves only the rhc
column), pinned to CPU 0. Each client runs in its own process pinned to CPU 1
and calls GET /test/ping, decoding the JSON answer, for a fixed time after a
short warm-up:

- sequential: one call at a time on one keep-alive connection;
- in flight: 50 calls outstanding at all times (a new call as each finishes).

Clients: rhc Connection (rhc.wait for sequential, partials with callbacks and
loop.run_until for in flight), aiohttp ClientSession, httpx (Client for
sequential, AsyncClient for in flight), requests.Session (sequential only),
http.client (sequential only).
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
PATH = '/test/ping'
INFLIGHT = 50
WARMUP = 0.5
LOAD_CPU = '1'

# (client, mode) in the order they run and are reported
CASES = [('rhc', 'sequential'), ('aiohttp', 'sequential'), ('httpx', 'sequential'),
         ('requests', 'sequential'), ('http.client', 'sequential'),
         ('rhc', 'inflight'), ('aiohttp', 'inflight'), ('httpx', 'inflight')]

EXPECTED = {'ping': 'pong'}


# -- the workers: each returns the number of calls finished before `deadline` ----------


def rhc_sequential(port, deadline):
    import rhc
    con = rhc.Connection(f'http://127.0.0.1:{port}')
    assert rhc.wait(con.get(PATH)) == EXPECTED
    calls = 0
    while time.perf_counter() < deadline:
        rhc.wait(con.get(PATH))
        calls += 1
    con.close()
    return calls


def rhc_inflight(port, deadline):
    import rhc
    from rhc.loop import get_loop
    con = rhc.Connection(f'http://127.0.0.1:{port}')
    state = {'calls': 0, 'errors': 0, 'running': 0}
    call = con.get(PATH)

    def done(rc, result):
        if rc:
            state['errors'] += 1
        else:
            state['calls'] += 1
        if time.perf_counter() < deadline:
            call(done)
        else:
            state['running'] -= 1

    for _ in range(INFLIGHT):
        state['running'] += 1
        call(done)
    get_loop().run_until(lambda: state['running'] == 0)
    con.close()
    if state['errors']:
        raise RuntimeError(f"{state['errors']} calls failed")
    return state['calls']


def aiohttp_sequential(port, deadline):
    import asyncio

    import aiohttp

    async def main():
        url = f'http://127.0.0.1:{port}{PATH}'
        calls = 0
        async with aiohttp.ClientSession() as session:
            async with session.get(url) as response:
                assert await response.json() == EXPECTED
            while time.perf_counter() < deadline:
                async with session.get(url) as response:
                    await response.json()
                calls += 1
        return calls
    return asyncio.run(main())


def aiohttp_inflight(port, deadline):
    import asyncio

    import aiohttp

    async def main():
        url = f'http://127.0.0.1:{port}{PATH}'
        calls = [0]

        async def worker(session):
            while time.perf_counter() < deadline:
                async with session.get(url) as response:
                    await response.json()
                calls[0] += 1
        connector = aiohttp.TCPConnector(limit=INFLIGHT)
        async with aiohttp.ClientSession(connector=connector) as session:
            await asyncio.gather(*(worker(session) for _ in range(INFLIGHT)))
        return calls[0]
    return asyncio.run(main())


def httpx_sequential(port, deadline):
    import httpx
    url = f'http://127.0.0.1:{port}{PATH}'
    calls = 0
    with httpx.Client() as client:
        assert client.get(url).json() == EXPECTED
        while time.perf_counter() < deadline:
            client.get(url).json()
            calls += 1
    return calls


def httpx_inflight(port, deadline):
    import asyncio

    import httpx

    async def main():
        url = f'http://127.0.0.1:{port}{PATH}'
        calls = [0]

        async def worker(client):
            while time.perf_counter() < deadline:
                (await client.get(url)).json()
                calls[0] += 1
        limits = httpx.Limits(max_connections=INFLIGHT, max_keepalive_connections=INFLIGHT)
        async with httpx.AsyncClient(limits=limits) as client:
            await asyncio.gather(*(worker(client) for _ in range(INFLIGHT)))
        return calls[0]
    return asyncio.run(main())


def requests_sequential(port, deadline):
    import requests
    url = f'http://127.0.0.1:{port}{PATH}'
    calls = 0
    with requests.Session() as session:
        assert session.get(url).json() == EXPECTED
        while time.perf_counter() < deadline:
            session.get(url).json()
            calls += 1
    return calls


def http_client_sequential(port, deadline):
    import http.client
    conn = http.client.HTTPConnection('127.0.0.1', port)
    calls = 0

    def one():
        conn.request('GET', PATH)
        response = conn.getresponse()
        return json.loads(response.read())
    assert one() == EXPECTED
    while time.perf_counter() < deadline:
        one()
        calls += 1
    conn.close()
    return calls


WORKERS = {
    ('rhc', 'sequential'): rhc_sequential,
    ('rhc', 'inflight'): rhc_inflight,
    ('aiohttp', 'sequential'): aiohttp_sequential,
    ('aiohttp', 'inflight'): aiohttp_inflight,
    ('httpx', 'sequential'): httpx_sequential,
    ('httpx', 'inflight'): httpx_inflight,
    ('requests', 'sequential'): requests_sequential,
    ('http.client', 'sequential'): http_client_sequential,
}


def worker_main(client, mode, port, duration):
    """In the child process: warm up, measure, print {"calls_per_s": ...} as JSON."""
    fn = WORKERS[(client, mode)]
    fn(port, time.perf_counter() + WARMUP)
    start = time.perf_counter()
    calls = fn(port, start + duration)
    elapsed = time.perf_counter() - start
    print(json.dumps({'calls': calls, 'seconds': elapsed, 'calls_per_s': calls / elapsed}))


# -- the parent: one fixed server, every case in its own pinned process -----------------


def run_case(client, mode, port, duration):
    env = dict(os.environ)
    env['PYTHONPATH'] = os.pathsep.join(filter(None, [ROOT, os.environ.get('PYTHONPATH')]))
    argv = ['taskset', '-c', LOAD_CPU, sys.executable, os.path.abspath(__file__), '--worker',
            client, mode, str(port), str(duration)]
    done = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=duration + 60)
    if done.returncode != 0:
        raise RuntimeError(done.stderr.strip()[-800:] or f'exit {done.returncode}')
    return json.loads(done.stdout.strip().splitlines()[-1])['calls_per_s']


def run_all(server_name='aiohttp', duration=3.0, repeat=3, notes=None, server_factory=None):
    """({(client, mode): median calls/s}, meta) for every case, interleaved over `repeat`."""
    if server_factory is None:
        from harness import Server
        from lineup import SERVERS

        def server_factory(name):
            return Server(SERVERS[name])
    notes = notes if notes is not None else []
    server = server_factory(server_name)
    meta = {'server': f'{server_name} ({server.description})', 'duration': duration,
            'repeat': repeat, 'inflight': INFLIGHT}
    try:
        server.start()
    except RuntimeError as e:
        notes.append(f'client scenarios skipped: the {server_name} server failed to start: {e}')
        return {}, meta
    samples = {case: [] for case in CASES}
    try:
        for rep in range(1, repeat + 1):
            for client, mode in CASES:
                try:
                    rate = run_case(client, mode, server.port, duration)
                except (RuntimeError, subprocess.TimeoutExpired, ValueError) as e:
                    notes.append(f'client {client} {mode} rep {rep} failed: {e}')
                    print(f'  !! client {client} {mode}: {e}', flush=True)
                    continue
                samples[(client, mode)].append(rate)
                print(f'client rep {rep} {client:<12} {mode:<10} {rate:>10,.0f} calls/s', flush=True)
    finally:
        server.stop()
    summary = {case: statistics.median(rates) for case, rates in samples.items() if rates}
    return summary, meta


def main():
    if len(sys.argv) > 1 and sys.argv[1] == '--worker':
        client, mode, port, duration = sys.argv[2:6]
        worker_main(client, mode, int(port), float(duration))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--duration', type=float, default=3.0, help='seconds per run (default 3)')
    parser.add_argument('--repeat', type=int, default=3, help='interleaved repetitions (default 3)')
    parser.add_argument('--server', choices=['aiohttp', 'rhc'], default='aiohttp',
                        help='the fixed server (default aiohttp)')
    args = parser.parse_args()
    notes = []
    summary, meta = run_all(args.server, args.duration, args.repeat, notes)
    print(f"\nserver: {meta['server']}")
    for (client, mode), rate in summary.items():
        rel = summary.get(('rhc', mode))
        print(f'{client:<12} {mode:<10} {rate:>10,.0f} calls/s'
              + ('' if client == 'rhc' or not rel else f'   rhc/{client} {rel / rate:.2f}x'))
    for note in notes:
        print('note:', note)
    return 0


if __name__ == '__main__':
    sys.path.insert(0, HERE)
    sys.exit(main())
