"""The stream example in a real browser: headless Chromium, on 127.0.0.1 only.

`python -m rhc.launch examples/stream/service.micro` serves its page; the
page's EventSource reads the progress feed and writes each event into the
DOM, and closes on the last one. Chromium dumps the DOM once its virtual
time budget is spent (virtual time stands still while the stream is open),
and the test reads what arrived.
"""
import html.parser
import os
import shutil
import subprocess

import pytest

from docs_support import example, launch_env

CHROMIUM = shutil.which('chromium') or ('/usr/bin/chromium' if os.access('/usr/bin/chromium', os.X_OK)
                                        else None)
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(CHROMIUM is None,
                       reason="needs Debian's chromium package (/usr/bin/chromium)"),
]


def dump_dom(url, profile):
    done = subprocess.run(
        [CHROMIUM, '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic',
         '--no-first-run', '--disable-background-networking', '--disable-component-update',
         '--disable-sync', f'--user-data-dir={profile}',
         '--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1',
         '--virtual-time-budget=10000', '--dump-dom', url],
        capture_output=True, text=True, timeout=25)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


class Page(html.parser.HTMLParser):
    """The texts of the page's status line and event items, and the progress bar's value."""

    def __init__(self, dom):
        super().__init__()
        self.status, self.steps, self.bar, self._into = None, [], None, None
        self.feed(dom)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == 'li' and attrs.get('class') == 'step':
            self.steps.append('')
            self._into = 'step'
        elif tag == 'p' and attrs.get('id') == 'status':
            self.status, self._into = '', 'status'
        elif tag == 'progress':
            self.bar = attrs.get('value')

    def handle_endtag(self, tag):
        self._into = None

    def handle_data(self, data):
        if self._into == 'step':
            self.steps[-1] += data
        elif self._into == 'status':
            self.status += data


def test_the_page_writes_every_event_into_the_dom(launch, tmp_path):
    path = example('stream')
    port = launch(path, env=launch_env(path)).wait_listening().port()
    page = Page(dump_dom(f'http://127.0.0.1:{port}/?steps=4&delay=0.05', tmp_path / 'profile'))
    assert page.steps == [f'step {n} of 4 ({p}%), id {n}'
                          for n, p in [(1, 25), (2, 50), (3, 75), (4, 100)]]
    assert page.status == 'done: finished'
    assert page.bar == '100'
