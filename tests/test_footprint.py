"""What importing rhc costs: a plain-HTTP service never loads ssl (about 4 MiB)."""
import subprocess
import sys


def imported_after(code):
    out = subprocess.run([sys.executable, '-c', code + '\nimport sys\nprint(" ".join(sorted(sys.modules)))'],
                         capture_output=True, text=True, timeout=20, check=True).stdout
    return set(out.split())


def test_plain_http_does_not_import_ssl():
    modules = imported_after('import rhc, rhc.launch, rhc.micro, rhc.async_\n'
                             'rhc.Connection("http://127.0.0.1:1")')
    assert 'rhc.client' in modules
    assert 'ssl' not in modules


def test_https_imports_ssl_when_used():
    modules = imported_after('import rhc\nrhc.Connection("https://127.0.0.1:1")')
    assert 'ssl' in modules and 'rhc.tls' in modules
