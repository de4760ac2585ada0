"""Every notebook under notebooks/ runs top to bottom in a fresh interpreter.

tests/notebook_driver.py execs the code cells in order in `__main__` (so
`GET __main__.ping` finds a function defined in a cell). Notebooks may use
the fixed port 12345, as the original rhc's did; the test replaces it with
a port free a moment before, and serves on 127.0.0.1 only.
"""
import json
import os
import re
import subprocess
import sys

import pytest

from docs_support import ROOT, TESTS, free_port

NOTEBOOKS = os.path.join(ROOT, 'notebooks')
NAMES = sorted(n for n in os.listdir(NOTEBOOKS) if n.endswith('.ipynb'))


def load(name):
    with open(os.path.join(NOTEBOOKS, name), encoding='utf-8') as f:
        return json.load(f)


def test_the_three_notebooks_are_here():
    assert {'ping_server.ipynb', 'connection.ipynb', 'mock.ipynb'} <= set(NAMES)


def test_notebooks_are_what_make_notebooks_writes(tmp_path):
    """The .ipynb files are generated; editing one by hand would be lost."""
    script = os.path.join(NOTEBOOKS, 'make_notebooks.py')
    source = open(script, encoding='utf-8').read()
    namespace = {'__name__': 'make_notebooks', '__file__': str(tmp_path / 'make_notebooks.py')}
    exec(compile(source, script, 'exec'), namespace)
    namespace['main']()
    for name in namespace['NOTEBOOKS']:
        assert (tmp_path / name).read_text(encoding='utf-8') == \
            open(os.path.join(NOTEBOOKS, name), encoding='utf-8').read(), name


@pytest.mark.parametrize('name', NAMES)
def test_notebook_is_nbformat_4_telling_a_story(name):
    notebook = load(name)
    assert notebook['nbformat'] == 4
    kinds = [cell['cell_type'] for cell in notebook['cells']]
    assert kinds[0] == 'markdown'
    assert kinds.count('markdown') >= 3 and kinds.count('code') >= 3
    for cell in notebook['cells']:
        assert isinstance(cell['source'], list)
        if cell['cell_type'] == 'code':
            assert cell['outputs'] == [] and cell['execution_count'] is None
    code = ''.join(''.join(c['source']) for c in notebook['cells'] if c['cell_type'] == 'code')
    for host in re.findall(r'https?://([^/:\'"]+)', code):
        assert host in ('localhost', '127.0.0.1'), f'{name} calls {host}'


@pytest.mark.parametrize('name', NAMES)
def test_notebook_runs_top_to_bottom(name):
    notebook = load(name)
    code = ''.join(''.join(c['source']) for c in notebook['cells'] if c['cell_type'] == 'code')
    env = dict(os.environ, PYTHONPATH=ROOT)
    for server in re.findall(r'SERVER\s+(\w+)', code):
        env[f'SERVER_{server.upper()}_HOST'] = '127.0.0.1'
    done = subprocess.run(
        [sys.executable, os.path.join(TESTS, 'notebook_driver.py'), os.path.join(NOTEBOOKS, name),
         f'12345={free_port()}', 'localhost=127.0.0.1'],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=20)
    assert done.returncode == 0, done.stderr
