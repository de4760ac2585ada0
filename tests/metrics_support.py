"""promtool as the judge of an exposition, for the metrics tests. Not a test module."""
import shutil
import subprocess

import pytest


def promtool(text):
    """Assert `promtool check metrics` accepts the text, lints included."""
    path = shutil.which('promtool')
    if path is None:
        pytest.skip("promtool is not installed (Debian package 'prometheus')")
    result = subprocess.run([path, 'check', 'metrics'], input=text.encode('utf-8'),
                            capture_output=True, timeout=20)
    assert result.returncode == 0, (result.stdout + result.stderr).decode() + '\n' + text
