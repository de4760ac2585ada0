"""Handlers of the launched service in tests/test_workers_metrics.py: a handler-defined
counter, gauge and histogram, so the sum over the workers covers them too."""
import os
import time

import rhc.metrics

HITS = rhc.metrics.counter('scrape_hits_total', 'Hits, by kind.', labels=('kind',))
LIVE = rhc.metrics.gauge('scrape_live_workers', 'One per worker that has served a hit.')
SIZES = rhc.metrics.histogram('scrape_sizes', 'Sizes asked for.', buckets=(1, 10))


def hit(request):
    """Count a hit (of `kind`, default a) and name the process."""
    HITS.labels(request.query.get('kind', 'a')).inc()
    LIVE.set(1)
    SIZES.observe(float(request.query.get('size', '5')))
    return {'pid': os.getpid()}


def block(request):
    """Block the loop for `s` seconds."""
    time.sleep(float(request.query.get('s', '5')))
    return {'slept': True}


def pid(request):
    """Name the process, counting nothing of our own."""
    return {'pid': os.getpid()}
