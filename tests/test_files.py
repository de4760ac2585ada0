"""rhc.File on the wire: validators, 304s, HEAD, downloads, missing files; read by h11.

Conditional requests follow RFC 9110 §13: If-None-Match (weak comparison,
`*`, lists) decides when present, else If-Modified-Since. The download
name is read back with the standard library's email package, which
decodes RFC 2231's `filename*`.
"""
import email.message
import email.utils
import json
import os

import pytest

from conftest import Running
from stream_support import H11Client, service_lines

CONTENT = bytes(range(256)) * 1200      # 300 KiB: more than one read


@pytest.fixture(scope='module')
def files(tmp_path_factory):
    where = tmp_path_factory.mktemp('files')
    (where / 'data.txt').write_bytes(CONTENT)
    (where / 'empty.bin').write_bytes(b'')
    (where / 'report.csv').write_text('a,b\n1,2\n')
    (where / 'folder').mkdir()
    return where


@pytest.fixture(scope='module')
def server(files):
    os.environ['STREAM_TEST_FILES'] = str(files)
    running = Running(service_lines())
    yield running
    running.stop()
    del os.environ['STREAM_TEST_FILES']


@pytest.fixture
def client(server):
    c = H11Client(server.port())
    yield c
    c.close()


def validators(c, name='data.txt'):
    status, fields, _ = c.response('GET', f'/file/{name}')
    assert status == 200
    c.next_cycle()
    return fields['etag'], fields['last-modified']


def test_file_has_length_validators_and_its_bytes(client, files):
    status, fields, body = client.response('GET', '/file/data.txt')
    assert (status, body) == (200, CONTENT)
    assert fields['content-length'] == str(len(CONTENT))
    assert 'transfer-encoding' not in fields
    assert fields['content-type'] == 'text/plain'
    mtime = os.stat(files / 'data.txt').st_mtime
    assert fields['last-modified'] == email.utils.formatdate(mtime, usegmt=True)
    assert fields['etag'].startswith('"') and fields['etag'].endswith('"')
    client.next_cycle()
    assert client.response('GET', '/file/empty.bin')[2] == b''


def test_head_has_the_length_and_no_body(client):
    status, fields, body = client.response('HEAD', '/file/data.txt')
    assert (status, body) == (200, b'')
    assert fields['content-length'] == str(len(CONTENT))
    client.next_cycle()     # no body bytes followed, or h11 would misread this answer
    assert client.response('GET', '/file/report.csv')[2] == b'a,b\n1,2\n'


@pytest.mark.parametrize('header', [
    lambda tag, date: [('If-None-Match', tag)],
    lambda tag, date: [('If-None-Match', f'W/{tag}')],
    lambda tag, date: [('If-None-Match', f'"other", {tag}')],
    lambda tag, date: [('If-None-Match', '*')],
    lambda tag, date: [('If-Modified-Since', date)],
    lambda tag, date: [('If-Modified-Since', 'Fri, 01 Jan 2100 00:00:00 GMT')],
], ids=['etag', 'weak-etag', 'etag-in-a-list', 'star', 'same-date', 'later-date'])
def test_the_same_version_answers_304(client, header):
    tag, date = validators(client)
    status, fields, body = client.response('GET', '/file/data.txt', headers=header(tag, date))
    assert (status, body) == (304, b'')
    assert fields['etag'] == tag and fields['last-modified'] == date
    assert 'content-length' not in fields and 'transfer-encoding' not in fields
    client.next_cycle()
    assert client.response('GET', '/file/report.csv')[0] == 200


@pytest.mark.parametrize('header', [
    lambda tag, date: [('If-None-Match', '"another-version"')],
    lambda tag, date: [('If-Modified-Since', 'Sat, 01 Jan 2000 00:00:00 GMT')],
    lambda tag, date: [('If-Modified-Since', 'not a date')],
    # If-None-Match decides when both are sent (RFC 9110 §13.1.3)
    lambda tag, date: [('If-None-Match', '"another-version"'), ('If-Modified-Since', date)],
], ids=['other-etag', 'earlier-date', 'bad-date', 'etag-wins-over-date'])
def test_another_version_answers_200(client, header):
    tag, date = validators(client)
    status, _, body = client.response('GET', '/file/data.txt', headers=header(tag, date))
    assert (status, body) == (200, CONTENT)


def test_a_changed_file_has_a_new_etag(client, files):
    path = files / 'report.csv'
    old, _ = validators(client, 'report.csv')
    stat = os.stat(path)
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    status, fields, _ = client.response('GET', '/file/report.csv', headers=[('If-None-Match', old)])
    assert status == 200 and fields['etag'] != old


@pytest.mark.parametrize('name', ['missing.txt', 'folder', 'data.txt/inside'])
def test_what_is_not_a_file_is_404(client, name):
    status, fields, body = client.response('GET', f'/file/{name}')
    assert status == 404 and json.loads(body) == {'error': 'not found'}
    assert fields['content-length'] == str(len(body))
    client.next_cycle()
    status, _, body = client.response('HEAD', f'/file/{name}')
    assert (status, body) == (404, b'')


def filename_of(disposition):
    """(disposition, name): the `filename*` the email package decodes (RFC 2231) when
    there is one, as RFC 6266 §4.3 prefers it, else the plain `filename`."""
    message = email.message.Message()
    message['Content-Disposition'] = disposition
    params = message.get_params(header='content-disposition')
    names = [value for key, value in params[1:] if key == 'filename']
    decoded = [email.utils.collapse_rfc2231_value(v) for v in names if isinstance(v, tuple)]
    return params[0][0], (decoded or names)[0]


@pytest.mark.parametrize('query, name', [
    ('', 'report.csv'),
    ('?as=export%202024.csv', 'export 2024.csv'),
    ('?as=rapport-%C3%A9t%C3%A9.csv', 'rapport-été.csv'),
    ('?as=say%20%22hi%22.csv', 'say "hi".csv'),
], ids=['plain', 'space', 'non-ascii', 'quotes'])
def test_filename_makes_a_download(client, query, name):
    status, fields, body = client.response('GET', f'/download/report.csv{query}')
    assert (status, body) == (200, b'a,b\n1,2\n')
    assert fields['content-type'] == 'text/csv'
    assert filename_of(fields['content-disposition']) == ('attachment', name)
