"""Every code block of README.rst, run as a newcomer would run it.

See tests/readme_blocks.py for the conventions the README follows. Here:

- ``python`` blocks run as a script in a fresh interpreter, in a temporary
  directory, with their `# ->` / `# raises` claims checked.
- ``console`` blocks run command by command from the repository root:
  ``python -m rhc.launch FILE`` that serves is launched in the background,
  ``--check``/``--config-only``/``--help`` run to completion, ``curl`` is
  played with http.client, and output is compared with what the README
  shows. ``pip install``, a bare ``python -m pytest`` and the benchmark are not run (the
  second would run this very test); the files they name must exist. ``python -m pytest
  examples/...`` runs that example's tests.
- ``.. file:`` blocks must equal the file they show; other ``text`` blocks
  are micro snippets that must parse.

Ports: the README uses the real ports (12345, 12346). The test never binds
them. A launched service gets port 0 through ``SERVER_<NAME>_PORT`` and
127.0.0.1 through ``SERVER_<NAME>_HOST``; its ``listening on`` lines tell
the port, and ``curl`` urls and ``CONNECTION`` urls to the README's port are
rewritten to it. In python blocks, which bind their own servers, each of
those ports is rewritten to a port that was free a moment before, and
``localhost`` to ``127.0.0.1``.
"""
import http.client
import os
import re
import subprocess
import sys
import urllib.parse

import pytest

import micro
import readme_blocks as rb
from docs_support import ROOT, free_port, launch_env, server_names

README = os.path.join(ROOT, 'README.rst')
TEXT = open(README, encoding='utf-8').read()
BLOCKS = rb.blocks(TEXT)
README_PORTS = ('12345', '12346')
INSTALL = 'pip install -e . && python -m rhc.launch examples/ping/service.micro'
TEST = "pip install -e '.[test]' && python -m pytest"

def by_lang(lang):
    return [b for b in BLOCKS if b.lang == lang and b.file is None]


def serve_commands(block):
    return [step for command in rb.commands(block.text) for step in rb.steps(command.text)
            if rb.is_serve(step.argv)]


def console_params():
    """Each console block, with the serving launches its `curl`s talk to."""
    params, serving = [], []
    for block in by_lang('console'):
        own = serve_commands(block)
        serving = own or serving
        uses_curl = any(step.argv[:1] == ['curl'] for c in rb.commands(block.text)
                        for step in rb.steps(c.text))
        launches = own if own or not uses_curl else serving
        params.append(pytest.param(block, launches, id=block.id))
    return params


# -- the two commands --------------------------------------------------------

def test_the_two_commands_come_first_each_in_its_own_block():
    first, second = by_lang('console')[:2]
    assert first.text == f'$ {INSTALL}\n'
    assert second.text == f'$ {TEST}\n'
    assert TEXT.index(INSTALL) < TEXT.index('The ping service')


def test_ci_runs_the_test_command_verbatim():
    ci = os.path.join(ROOT, '.ci', 'run')
    if not os.path.exists(ci):
        pytest.skip('no .ci/run')
    assert TEST in open(ci, encoding='utf-8').read().splitlines()


def test_every_example_has_a_section():
    examples = os.listdir(os.path.join(ROOT, 'examples'))
    assert examples
    for name in examples:
        assert f'``{name}``' in TEXT, name


def test_readme_renders_without_warnings():
    core = pytest.importorskip('docutils.core')
    errors = []
    core.publish_doctree(TEXT, settings_overrides={
        'report_level': 2, 'halt_level': 5, 'warning_stream': _Collect(errors)})
    assert not errors, ''.join(errors)


class _Collect:
    def __init__(self, into):
        self.into = into

    def write(self, text):
        self.into.append(text)

    def flush(self):
        pass


# -- files shown ---------------------------------------------------------------

@pytest.mark.parametrize('block', [b for b in BLOCKS if b.file], ids=lambda b: b.file)
def test_shown_file_is_the_real_file(block):
    path = os.path.join(ROOT, block.file)
    assert os.path.isfile(path), f'README line {block.line} shows {block.file}, which does not exist'
    with open(path, encoding='utf-8') as f:
        assert block.text.rstrip('\n') == f.read().rstrip('\n'), \
            f'README line {block.line} differs from {block.file}'


def test_micro_snippets_parse():
    for block in by_lang('text'):
        micro.parse(block.text.splitlines())


# -- the directive reference ---------------------------------------------------

SPEC_DIRECTIVES = {'IMPORT', 'SERVER', 'ROUTE', 'ARG', 'GET', 'POST', 'PUT', 'PATCH', 'DELETE',
                   'CONTENT', 'ENUM', 'SILENT', 'AUTH', 'CONNECTION', 'HEADER', 'RESOURCE',
                   'REQUIRED', 'OPTIONAL', 'CONFIG', 'SETUP', 'TEARDOWN', 'OPENAPI', 'HEALTH',
                   'READY', 'METRICS'}

# What each directive needs before it to be in the right place.
CONTEXT = {
    'SERVER': [], 'CONNECTION': [], 'CONFIG': [], 'SETUP': [], 'TEARDOWN': [],
    'IMPORT': [], 'ENUM': [],
    'OPENAPI': ['SERVER api 0'], 'ROUTE': ['SERVER api 0'], 'AUTH': ['SERVER api 0'],
    'HEALTH': ['SERVER api 0'], 'READY': ['SERVER api 0'], 'METRICS': ['SERVER api 0'],
    'ARG': ['SERVER api 0', r'ROUTE /items/(\d+)$'],
    'SILENT': ['SERVER api 0', 'ROUTE /health$'],
    'GET': ['SERVER api 0', r'ROUTE /items/(\d+)$'],
    'CONTENT': ['SERVER api 0', 'ROUTE /items$', 'POST items.create'],
    'HEADER': ['CONNECTION quotes http://127.0.0.1:1'],
    'RESOURCE': ['CONNECTION quotes http://127.0.0.1:1'],
    'REQUIRED': ['CONNECTION quotes http://127.0.0.1:1', 'RESOURCE add /quotes method=POST'],
    'OPTIONAL': ['CONNECTION quotes http://127.0.0.1:1', 'RESOURCE add /quotes method=POST'],
}


def directive_rows():
    rows = rb.list_table_rows(TEXT, 'The micro language')[1:]
    return [(re.findall(r'``(\w+)``', row[0]), row[2].strip('`')) for row in rows]


def test_reference_lists_every_directive():
    listed = {name for names, _ in directive_rows() for name in names}
    assert listed == SPEC_DIRECTIVES


@pytest.mark.parametrize('names, example', directive_rows(), ids=lambda x: str(x))
def test_reference_example_parses(tmp_path, names, example):
    (tmp_path / 'common.micro').write_text('CONFIG shared default=1\n')
    lines = ['ENUM state open done'] + CONTEXT[names[0]] + [example]
    (tmp_path / 'service.micro').write_text('\n'.join(lines) + '\n')
    micro.parse(str(tmp_path / 'service.micro'))


# -- python ----------------------------------------------------------------------

@pytest.mark.parametrize('block', by_lang('python'), ids=lambda b: b.id)
def test_python_block(tmp_path, block):
    source = block.text.replace('localhost', '127.0.0.1')
    for port in README_PORTS:
        source = source.replace(port, str(free_port()))
    script = tmp_path / 'block.py'
    script.write_text(rb.checked_python(source, block.line + 2))
    env = dict(os.environ, PYTHONPATH=ROOT)
    for name in re.findall(r'SERVER\s+(\w+)', source):
        env[f'SERVER_{name.upper()}_HOST'] = '127.0.0.1'
    done = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=20)
    assert done.returncode == 0, f'README line {block.line}:\n{done.stderr}'


# -- console ---------------------------------------------------------------------

class Session:
    """The services one console block talks to, and the README ports they stand for."""

    def __init__(self, launch):
        self.launch = launch
        self.procs = []
        self.ports = {}       # README port -> port actually bound

    def serve(self, step):
        path = step.argv[3]
        env = launch_env(os.path.join(ROOT, path), **step.env)
        for name, connection in micro.parse(os.path.join(ROOT, path)).connections.items():
            if connection.url:
                env[f'CONNECTION_{name.upper()}_URL'] = self.rewrite(connection.url)
        proc = self.launch(*step.argv[3:], env=env, cwd=ROOT)
        servers = server_names(os.path.join(ROOT, path))
        proc.wait_listening(len(servers))
        for name, port in servers.items():
            self.ports[str(port)] = str(proc.ports[name])
        self.procs.append(proc)

    def rewrite(self, url):
        parts = urllib.parse.urlsplit(url if '://' in url else 'http://' + url)
        port = self.ports.get(str(parts.port), str(parts.port))
        return urllib.parse.urlunsplit(
            (parts.scheme, f'127.0.0.1:{port}', parts.path, parts.query, ''))

    def stop(self):
        for proc in self.procs:
            code, _, log = proc.terminate()
            assert code == 0, log


def curl(session, argv):
    """What `curl ARGV` prints, played with http.client against 127.0.0.1."""
    method, data, include, headers, url = None, None, False, {}, None
    words = iter(argv[1:])
    for word in words:
        if word in ('-s', '--silent'):
            continue
        elif word in ('-i', '--include'):
            include = True
        elif word in ('-X', '--request'):
            method = next(words)
        elif word in ('-d', '--data'):
            data = next(words)
        elif word in ('-H', '--header'):
            key, value = next(words).split(':', 1)
            headers[key.strip()] = value.strip()
        elif word.startswith('-'):
            raise AssertionError(f'the README uses a curl option this test does not know: {word}')
        else:
            url = word
    parts = urllib.parse.urlsplit(session.rewrite(url))
    assert str(parts.port) in session.ports.values(), f'curl {url}: no launched service on that port'
    headers = {'User-Agent': 'curl', 'Accept': '*/*', **headers}
    if data is not None:
        headers.setdefault('Content-Type', 'application/x-www-form-urlencoded')
    conn = http.client.HTTPConnection('127.0.0.1', parts.port, timeout=5)
    try:
        target = parts.path + (f'?{parts.query}' if parts.query else '') or '/'
        conn.request(method or ('POST' if data is not None else 'GET'), target,
                     body=data, headers=headers)
        response = conn.getresponse()
        body = response.read().decode('utf-8', 'replace')
    finally:
        conn.close()
    if not include:
        return body
    head = [f'HTTP/1.1 {response.status} {response.reason}']
    head += [f'{k}: {v}' for k, v in response.getheaders()]
    return '\n'.join(head) + '\n\n' + body


def run_step(session, step, expected):
    argv = step.argv
    if argv[:3] == ['pip', 'install', '-e']:
        target = argv[3]
        assert os.path.isfile(os.path.join(ROOT, target.split('[')[0], 'setup.py'))
        for extra in re.findall(r'\[(.*)\]', target):
            setup = open(os.path.join(ROOT, 'setup.py'), encoding='utf-8').read()
            assert f"'{extra}'" in setup, f'setup.py has no extra {extra}'
        return
    if argv == ['python', '-m', 'pytest']:
        assert os.path.isdir(os.path.join(ROOT, 'tests'))
        return
    if argv[:3] == ['python', '-m', 'pytest']:
        targets = [word for word in argv[3:] if not word.startswith('-')]
        assert targets and all(t.startswith('examples/') for t in targets), \
            f'the README runs tests this test does not expect: {argv}'
        done = subprocess.run([sys.executable, *argv[1:]], cwd=ROOT, capture_output=True,
                              text=True, env=dict(os.environ, PYTHONPATH=ROOT), timeout=60)
        assert done.returncode == 0, done.stdout + done.stderr
        assert rb.output_matches(expected, done.stdout), f'pytest printed:\n{done.stdout}'
        return
    if argv[:2] == ['python', 'bench/run.py']:
        # The benchmark takes minutes and its peers: check it is there and its options exist.
        done = subprocess.run([sys.executable, 'bench/run.py', '--help'], cwd=ROOT,
                              capture_output=True, text=True, timeout=20)
        assert done.returncode == 0, done.stderr
        for option in argv[2:]:
            if option.startswith('--'):
                assert option in done.stdout, f'bench/run.py has no {option}'
        return
    if argv[:1] == ['curl']:
        out = curl(session, argv)
        assert rb.output_matches(expected, out), f'curl printed:\n{out}'
        return
    if rb.is_serve(argv):
        session.serve(step)
        return
    if rb.is_launch(argv):
        if len(argv) > 3 and not argv[3].startswith('-'):
            assert os.path.exists(os.path.join(ROOT, argv[3]))
        env = dict(os.environ, PYTHONPATH=ROOT, **step.env)
        done = subprocess.run([sys.executable, *argv[1:]], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=10)
        assert done.returncode == 0, done.stderr
        if expected:
            assert rb.output_matches(expected, done.stdout), f'it printed:\n{done.stdout}'
        return
    raise AssertionError(f'the README runs a command this test does not know: {argv}')


@pytest.mark.parametrize('block, launches', console_params())
def test_console_block(launch, block, launches):
    session = Session(launch)
    own = serve_commands(block)
    for step in launches if not own else []:
        session.serve(step)
    for command in rb.commands(block.text):
        for step in rb.steps(command.text):
            run_step(session, step, command.expected)
    session.stop()
