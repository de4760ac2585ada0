"""Streaming answers: a progress feed (SSE), the page that shows it, and a CSV export.

`progress` is an async generator of events, sent one by one as it makes
them; a browser that reconnects sends Last-Event-ID and the feed goes on
from there. `export` streams rows from a plain generator: the server takes
the next rows only as fast as the client reads. `page` sends a file.
"""
import csv
import io
import os

import rhc

PAGE = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'page.html')


def page(request):
    return rhc.File(PAGE)


def progress(request, steps, delay):
    done = int(request.last_event_id or 0)     # where a reconnecting browser got to

    async def events():
        for step in range(done + 1, steps + 1):
            await rhc.sleep(delay)
            yield rhc.Event({'step': step, 'of': steps, 'percent': round(100 * step / steps)},
                            event='progress', id=step)
        yield rhc.Event('finished', event='done')
    return rhc.EventStream(events())


def export(request, rows):
    def lines():
        yield csv_line(['id', 'name', 'square'])
        for n in range(1, rows + 1):
            yield csv_line([n, f'item {n}', n * n])
    return rhc.Stream(lines(), content_type='text/csv; charset=utf-8',
                      headers={'Content-Disposition': 'attachment; filename="export.csv"'})


def csv_line(values):
    out = io.StringIO()
    csv.writer(out).writerow(values)
    return out.getvalue()
