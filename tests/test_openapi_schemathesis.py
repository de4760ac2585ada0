"""Schemathesis, a third-party API fuzzer, against the running examples.

Each example is started with `python -m rhc.launch` on 127.0.0.1 port 0 (the
`launch` fixture); Schemathesis reads the document the example serves and
runs every phase (examples, coverage, fuzzing, stateful) with all its checks:
no 500, no status, header, content type or body that contradicts the
document, valid data accepted, invalid data refused, the methods a path does
not list answered 405 with `Allow`. A fixed seed and at most 30 cases per
operation keep each run bounded and repeatable.

No check is excluded. Two things Schemathesis found were fixed rather than
excused: a form's `id=7.0` is an integer as the JSON 7.0 is (rhc.routing),
and the gateway example checks that a quote's text is a string.
"""
import subprocess
import sys

import pytest

from docs_support import example, launch_env, server_names

pytest.importorskip('schemathesis', reason='Schemathesis is a test dependency')
pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

MAX_EXAMPLES = 30
SEED = 1


def start(launch, name, micro_file='service.micro', **env):
    path = example(name, micro_file)
    proc = launch(path, '--no-access-log', env=launch_env(path, **env))
    return proc.wait_listening(len(server_names(path)))


def schemathesis(port, tmp_path, *args, max_examples=MAX_EXAMPLES):
    """`st run` against the document served on `port`: (exit code, its report)."""
    command = [sys.executable, '-m', 'schemathesis.cli', 'run',
               f'http://127.0.0.1:{port}/openapi.json', '--checks', 'all',
               '--max-examples', str(max_examples), '--seed', str(SEED),
               '--generation-database', 'none', '--workers', '1', '--request-timeout', '5',
               '--no-color', *args]
    # Run where no schemathesis.toml or .hypothesis of the project can be picked up.
    done = subprocess.run(command, capture_output=True, text=True, cwd=tmp_path, timeout=100)
    return done.returncode, done.stdout + done.stderr


def assert_clean(code, report):
    assert code == 0 and 'No issues found' in report, report[-6000:]


def test_tasks(launch, tmp_path):
    port = start(launch, 'tasks').port()
    assert_clean(*schemathesis(port, tmp_path))


def test_auth_with_a_valid_token(launch, tmp_path):
    port = start(launch, 'auth', API_TOKEN='fuzz-token').port()
    assert_clean(*schemathesis(port, tmp_path, '--header', 'Authorization: Bearer fuzz-token'))


def test_gateway_with_its_backend(launch, tmp_path):
    backend = start(launch, 'gateway', 'backend.micro')
    gateway = start(launch, 'gateway', CONNECTION_QUOTES_URL=f'http://127.0.0.1:{backend.port()}')
    assert_clean(*schemathesis(gateway.port(), tmp_path))


def test_schemathesis_can_fail(serve, tmp_path):
    """The oracle is awake: a handler that answers its 400 as text contradicts the document."""
    port = serve(['SERVER api 0', 'OPENAPI /openapi.json', r'ROUTE /n/(\d+)$', 'ARG int',
                  'GET openapi_support.text_400']).port()
    code, report = schemathesis(port, tmp_path, '--phases', 'fuzzing', max_examples=5)
    assert code != 0, report
    assert 'GET /n/{arg1}' in report and 'Undocumented Content-Type' in report, report[-3000:]
