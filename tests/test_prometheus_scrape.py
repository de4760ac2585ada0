"""A real Prometheus server scrapes a launched rhc service and counts what it served.

Prometheus (Debian's `prometheus` package) runs on 127.0.0.1 with its own
storage in tmp_path and a 1 s scrape interval; the test asks its HTTP API
for `rhc_requests_total` until it reports the requests made, for at most
QUERY_DEADLINE seconds. Both processes are stopped by pid.
"""
import http.client
import json
import os
import shutil
import subprocess
import sys
import time
import urllib.parse

import pytest

from docs_support import ROOT, free_port

PROMETHEUS = shutil.which('prometheus') or '/usr/bin/prometheus'
QUERY_DEADLINE = 15.0
REQUESTS = 17

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not os.access(PROMETHEUS, os.X_OK),
                       reason="prometheus is not installed (Debian package 'prometheus')"),
]

SERVICE = '''\
SERVER scraped 0
  METRICS /metrics
  ROUTE /ping$
    GET scraped.ping
'''


def get(port, path):
    conn = http.client.HTTPConnection('127.0.0.1', port, timeout=5)
    try:
        conn.request('GET', path)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def stop(proc):
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


def launch_service(tmp_path, port):
    (tmp_path / 'scraped.py').write_text("def ping(request):\n    return {'ping': 'pong'}\n")
    (tmp_path / 'service.micro').write_text(SERVICE)
    env = dict(os.environ, PYTHONPATH=ROOT, SERVER_SCRAPED_PORT=str(port),
               SERVER_SCRAPED_HOST='127.0.0.1')
    log = open(tmp_path / 'service.log', 'wb')
    proc = subprocess.Popen([sys.executable, '-m', 'rhc.launch', str(tmp_path / 'service.micro'),
                             '--log-level', 'WARNING'], stdout=log, stderr=log, env=env,
                            cwd=tmp_path)
    log.close()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        assert proc.poll() is None, (tmp_path / 'service.log').read_text()
        try:
            if get(port, '/ping')[0] == 200:
                return proc
        except OSError:
            time.sleep(0.05)
    stop(proc)
    raise AssertionError('the service did not answer: ' + (tmp_path / 'service.log').read_text())


def launch_prometheus(tmp_path, web_port, target_port):
    config = tmp_path / 'prometheus.yml'
    config.write_text(
        'global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n'
        'scrape_configs:\n  - job_name: rhc\n    scrape_interval: 1s\n'
        '    scrape_timeout: 1s\n    metrics_path: /metrics\n'
        f'    static_configs:\n      - targets: ["127.0.0.1:{target_port}"]\n')
    log = open(tmp_path / 'prometheus.log', 'wb')
    proc = subprocess.Popen(
        [PROMETHEUS, f'--config.file={config}', f'--storage.tsdb.path={tmp_path / "tsdb"}',
         f'--web.listen-address=127.0.0.1:{web_port}', '--log.level=warn'],
        stdout=log, stderr=log, cwd=tmp_path)
    log.close()
    return proc


def query(web_port, expression):
    """The API's result list for an instant query, or None while Prometheus is not up."""
    try:
        status, body = get(web_port, '/api/v1/query?' + urllib.parse.urlencode(
            {'query': expression}))
    except OSError:
        return None
    if status != 200:
        return None
    answer = json.loads(body)
    assert answer['status'] == 'success', answer
    return answer['data']['result']


def test_prometheus_scrapes_the_request_count(tmp_path):
    service_port, web_port = free_port(), free_port()
    service = launch_service(tmp_path, service_port)
    prometheus = None
    try:
        for _ in range(REQUESTS - 1):       # the readiness check above was the first
            assert get(service_port, '/ping')[0] == 200
        prometheus = launch_prometheus(tmp_path, web_port, service_port)
        expression = 'rhc_requests_total{job="rhc",server="scraped",route="/ping$",method="GET"}'
        deadline = time.monotonic() + QUERY_DEADLINE
        result = None
        while time.monotonic() < deadline:
            assert prometheus.poll() is None, (tmp_path / 'prometheus.log').read_text()
            result = query(web_port, expression)
            if result:
                break
            time.sleep(0.25)
        assert result, ('no sample within %.0fs:\n' % QUERY_DEADLINE
                        + (tmp_path / 'prometheus.log').read_text())
        [sample] = result
        assert sample['metric']['status'] == '200'
        assert float(sample['value'][1]) == REQUESTS
        # The scrape itself was healthy, and Prometheus read the process metrics too.
        [up] = query(web_port, 'up{job="rhc"}')
        assert up['value'][1] == '1'
        assert query(web_port, 'process_resident_memory_bytes{job="rhc"}')
    finally:
        if prometheus is not None:
            stop(prometheus)
        stop(service)
