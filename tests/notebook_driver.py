"""Run a notebook's code cells in order, in this process's `__main__`, as Jupyter would.

    python tests/notebook_driver.py NOTEBOOK [OLD=NEW ...]

Each OLD=NEW replaces text in every code cell first (the test uses it to
move a notebook's fixed port to a free one). A cell that raises prints the
cell's number and source with the traceback, and the exit status is 1.
"""
import json
import sys
import traceback

import __main__


def _run(path, replacements):
    with open(path, encoding='utf-8') as f:
        notebook = json.load(f)
    assert notebook['nbformat'] == 4, f'{path}: not nbformat 4'
    namespace = vars(__main__)    # so a micro line can name `__main__.handler`
    for number, cell in enumerate(notebook['cells'], 1):
        if cell['cell_type'] != 'code':
            continue
        source = ''.join(cell['source'])
        for old, new in replacements:
            source = source.replace(old, new)
        try:
            exec(compile(source, f'{path} cell {number}', 'exec'), namespace)
        except BaseException:
            print(f'{path}: cell {number} failed:\n{source}\n', file=sys.stderr)
            traceback.print_exc()
            return 1
    return 0


if __name__ == '__main__':
    sys.exit(_run(sys.argv[1], [arg.split('=', 1) for arg in sys.argv[2:]]))
