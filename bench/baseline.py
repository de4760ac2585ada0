"""A/B runs: rhc from another git ref, beside the working tree's.

`Baseline(ref).checkout()` checks REF out with `git worktree add` into a
temporary directory; `remove()` takes it away again. `imported_from` proves, for a server
entry, which tree its `import rhc` really reaches with that entry's
PYTHONPATH and cwd, so a baseline can never silently run the working tree.
"""
import os
import shutil
import subprocess
import sys
import tempfile

from harness import ROOT


def git(*args, cwd=ROOT):
    done = subprocess.run(['git', *args], cwd=cwd, capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f'git {" ".join(args)}: {done.stderr.strip()}')
    return done.stdout.strip()


class Baseline:
    """REF's tree in a temporary git worktree: checkout() makes it, remove() takes it away."""

    def __init__(self, ref):
        self.ref = ref
        self.commit = git('rev-parse', '--verify', f'{ref}^{{commit}}')
        self.parent = self.tree = None

    def checkout(self):
        self.parent = tempfile.mkdtemp(prefix='rhc-baseline-')
        self.tree = os.path.join(self.parent, 'rhc')
        try:
            git('worktree', 'add', '--detach', '--quiet', self.tree, self.commit)
        except RuntimeError:
            shutil.rmtree(self.parent, ignore_errors=True)
            raise
        return self

    def remove(self):
        try:
            git('worktree', 'remove', '--force', self.tree)
        except RuntimeError:
            shutil.rmtree(self.tree, ignore_errors=True)
            git('worktree', 'prune')
        shutil.rmtree(self.parent, ignore_errors=True)


def describe(root):
    """`abc1234 subject` of the commit checked out at root, saying when rhc/ or micro/
    have changes not committed (the working tree runs those too)."""
    line = git('log', '-1', '--format=%h %s', cwd=root)
    if git('status', '--porcelain', '--', 'rhc', 'micro', cwd=root):
        line += ' (+ uncommitted changes to rhc/ or micro/)'
    return line


def imported_from(spec):
    """The files `import rhc` and `import micro` load for this server entry."""
    code = 'import rhc, micro; print(rhc.__file__); print(micro.__file__)'
    done = subprocess.run([sys.executable, '-c', code], env=spec.environment(0), cwd=spec.cwd,
                          capture_output=True, text=True, timeout=30)
    if done.returncode:
        raise RuntimeError(f'{spec.name}: cannot import rhc: {done.stderr.strip()[-500:]}')
    return done.stdout.split()


def precompile(root):
    """Byte-compile rhc and micro in root, so that neither side of an A/B pair pays for
    compiling in its first start (a fresh baseline tree has no __pycache__)."""
    subprocess.run([sys.executable, '-m', 'compileall', '-q', os.path.join(root, 'rhc'),
                    os.path.join(root, 'micro')], capture_output=True, timeout=120)


def check_imports(spec):
    """A line saying which commit this rhc server runs; raises if it imports another tree."""
    paths = imported_from(spec)
    root = os.path.realpath(spec.root) + os.sep
    strays = [p for p in paths if not os.path.realpath(p).startswith(root)]
    if strays:
        raise RuntimeError(f'{spec.name} would import {", ".join(strays)}, not from {spec.root}')
    return f'{describe(spec.root)}; rhc imported from {os.path.dirname(paths[0])}'
