"""rhc.logs in one process: when lines are written, how they read, when the fast path applies.

The handler is tried on loggers of its own: pytest keeps a handler on the
root logger, which would take every access line off the fast path.
"""
import io
import json
import logging
import os
import re
import threading

import pytest

from rhc import logs
from rhc.logs import BufferedHandler, fast_handler
from rhc.loop import Loop


@pytest.fixture
def loop():
    loop = Loop()
    yield loop
    loop.close()


def lone_logger(name, handler):
    """A logger outside the process's tree, whose only handler is `handler`."""
    logger = logging.Logger(name)
    logger.addHandler(handler)
    return logger


def on_loop(loop, fn):
    """Run `fn()` as a callback of the running loop; its result."""
    box = []
    loop.call_soon(lambda: box.append(fn()))
    loop.run_until(lambda: box, timeout=5)
    return box[0]


# -- when lines are written ---------------------------------------------------------------

def test_lines_wait_on_a_running_loop_then_land_together(loop):
    out = io.StringIO()
    logger = lone_logger('t.wait', BufferedHandler(out, loop=loop, interval=0.05))

    def log_three():
        for n in range(3):
            logger.info('line %d', n)
        return out.getvalue()
    assert on_loop(loop, log_three) == ''       # kept, not written
    assert loop.run_until(lambda: out.getvalue().count('\n') == 3, timeout=5)
    assert [line.split(' ', 2)[2] for line in out.getvalue().splitlines()] == \
        ['INFO t.wait line 0', 'INFO t.wait line 1', 'INFO t.wait line 2']


def test_without_a_running_loop_each_line_is_written_at_once(loop):
    for bound in (None, loop):      # no loop, or one that is not running
        out = io.StringIO()
        lone_logger('t.now', BufferedHandler(out, loop=bound)).info('at once')
        assert out.getvalue().endswith('INFO t.now at once\n')


def test_a_warning_is_written_at_once_after_what_waited(loop):
    out = io.StringIO()
    logger = lone_logger('t.warn', BufferedHandler(out, loop=loop, interval=60))

    def log():
        logger.info('first')
        logger.warning('second')
        return out.getvalue()
    written = on_loop(loop, log)
    assert [line.split(' ', 2)[2] for line in written.splitlines()] == \
        ['INFO t.warn first', 'WARNING t.warn second']


def test_past_max_buffered_the_lines_are_written_at_once(loop):
    out = io.StringIO()
    logger = lone_logger('t.size', BufferedHandler(out, loop=loop, interval=60, max_buffered=500))

    def log():
        for n in range(20):
            logger.info('x' * 40)
        return out.getvalue().count('\n')
    written = on_loop(loop, log)
    assert 10 <= written < 20       # the rest waits for the timer


def test_flush_and_close_write_what_waits(loop):
    out = io.StringIO()
    handler = BufferedHandler(out, loop=loop, interval=60)
    logger = lone_logger('t.flush', handler)
    on_loop(loop, lambda: logger.info('one'))
    assert out.getvalue() == ''
    logs.flush()        # every rhc handler, as at a stop
    assert out.getvalue().endswith('one\n')
    on_loop(loop, lambda: logger.info('two'))
    handler.close()
    assert out.getvalue().endswith('two\n')


def test_lines_from_another_thread_land_while_the_loop_runs(loop):
    out = io.StringIO()
    logger = lone_logger('t.thread', BufferedHandler(out, loop=loop, interval=0.05))

    def from_threads():
        threads = [threading.Thread(target=lambda n=n: logger.info('thread %d', n))
                   for n in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    on_loop(loop, from_threads)
    assert loop.run_until(lambda: out.getvalue().count('\n') == 8, timeout=5)
    assert sorted(line.rsplit(' ', 1)[1] for line in out.getvalue().splitlines()) == \
        [str(n) for n in range(8)]


@pytest.mark.skipif(not hasattr(os, 'fork'), reason='no fork')
def test_a_fork_writes_waiting_lines_once_and_the_child_writes_at_once(loop, tmp_path):
    path = tmp_path / 'log'
    with open(path, 'w') as out:
        logger = lone_logger('t.fork', BufferedHandler(out, loop=loop, interval=60))

        def log_and_fork():
            logger.info('before the fork')
            pid = os.fork()
            if pid == 0:
                # The parent's loop is not the child's: its lines are not kept for it.
                logger.info('in the child')
                os._exit(0)     # no atexit, no flush of its own
            return pid
        pid = on_loop(loop, log_and_fork)
        os.waitpid(pid, 0)
        logger.info('after the fork')
    assert [line.split(' ', 4)[4] for line in path.read_text().splitlines()] == \
        ['before the fork', 'in the child', 'after the fork']


def test_bind_moves_every_handler_to_a_loop(loop):
    out = io.StringIO()
    logger = lone_logger('t.bind', BufferedHandler(out, interval=0.05))
    logs.bind(loop)
    assert on_loop(loop, lambda: logger.info('kept') or out.getvalue()) == ''
    assert loop.run_until(lambda: out.getvalue().endswith('kept\n'), timeout=5)
    logs.bind(None)
    logger.info('at once')
    assert out.getvalue().endswith('at once\n')


def test_a_broken_stream_loses_lines_without_raising(loop):
    out = io.StringIO()
    out.close()
    lone_logger('t.broken', BufferedHandler(out)).info('lost')


def test_an_unknown_format_is_refused():
    with pytest.raises(ValueError, match="log format 'xml'"):
        BufferedHandler(io.StringIO(), format='xml')


# -- JSON -----------------------------------------------------------------------------

HOSTILE = ['new\nline', 'quote " and \\ backslash', 'escape \x1b[2J', 'nul \x00', 'é 中文 😀',
           '\u2028 line separator', 'lone \udc80 surrogate']


@pytest.mark.parametrize('text', HOSTILE)
def test_a_json_line_is_one_line_that_json_reads_back(text):
    out = io.StringIO()
    lone_logger('t.json', BufferedHandler(out, format='json')).warning('said %s', text)
    line = out.getvalue()
    assert line.count('\n') == 1 and line.isascii()
    document = json.loads(line)
    assert set(document) == {'ts', 'level', 'logger', 'message'}
    assert (document['level'], document['logger'], document['message']) == \
        ('WARNING', 't.json', f'said {text}')
    assert re.fullmatch(r'\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z', document['ts'])


def test_a_json_traceback_stays_in_its_line():
    out = io.StringIO()
    logger = lone_logger('t.exc', BufferedHandler(out, format='json'))
    try:
        raise RuntimeError('deep\ndown')
    except RuntimeError:
        logger.exception('it failed')
    [line] = out.getvalue().splitlines()
    document = json.loads(line)
    assert document['message'] == 'it failed' and document['level'] == 'ERROR'
    assert 'Traceback' in document['exc_info'] and 'RuntimeError: deep\ndown' in document['exc_info']


def test_the_text_format_is_basic_configs():
    out = io.StringIO()
    lone_logger('t.text', BufferedHandler(out)).error('plain %s', 'words')
    reference = logging.Formatter(logs.TEXT_FORMAT)
    record = logging.LogRecord('t.text', logging.ERROR, __file__, 1, 'plain %s', ('words',), None)
    ours = BufferedHandler(io.StringIO()).format(record)
    assert ours == reference.format(record)
    assert re.fullmatch(r'\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} ERROR t.text plain words\n',
                        out.getvalue())


# -- when the fast path applies -----------------------------------------------------------

def chain():
    """(root, access logger, rhc's handler on the root): a tree of their own."""
    root = logging.Logger('root')
    access = logging.Logger('top.access')
    access.parent = root
    handler = BufferedHandler(io.StringIO())
    root.addHandler(handler)
    return root, access, handler


def test_the_fast_path_applies_when_rhcs_handler_is_alone():
    root, access, handler = chain()
    assert fast_handler(access) is handler
    access.setLevel(logging.WARNING)     # the level decides whether to log, not how
    assert fast_handler(access) is handler


def other_handler(root, access, handler):
    root.addHandler(logging.StreamHandler(io.StringIO()))


def handler_on_the_access_logger(root, access, handler):
    access.addHandler(logging.NullHandler())


def second_rhc_handler(root, access, handler):
    access.addHandler(BufferedHandler(io.StringIO()))


def filter_on_the_logger(root, access, handler):
    access.addFilter(lambda record: True)


def filter_on_the_root(root, access, handler):
    root.addFilter(lambda record: True)


def filter_on_the_handler(root, access, handler):
    handler.addFilter(lambda record: True)


def another_formatter(root, access, handler):
    handler.setFormatter(logging.Formatter('%(message)s'))


def handler_level_above_info(root, access, handler):
    handler.setLevel(logging.WARNING)


def no_propagation(root, access, handler):
    access.propagate = False


def a_subclass(root, access, handler):
    root.removeHandler(handler)
    root.addHandler(type('Mine', (BufferedHandler,), {})(io.StringIO()))


@pytest.mark.parametrize('change', [
    other_handler, handler_on_the_access_logger, second_rhc_handler, filter_on_the_logger,
    filter_on_the_root, filter_on_the_handler, another_formatter, handler_level_above_info,
    no_propagation, a_subclass])
def test_anything_else_listening_takes_the_normal_path(change):
    root, access, handler = chain()
    change(root, access, handler)
    assert fast_handler(access) is None
