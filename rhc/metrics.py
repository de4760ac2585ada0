"""Counters, gauges and histograms, exposed in the Prometheus text format.

    requests = rhc.metrics.counter('shop_orders_total', 'Orders taken.', labels=('kind',))
    requests.labels('retail').inc()
    latency = rhc.metrics.histogram('shop_lookup_seconds', 'Catalogue lookups.')
    latency.observe(0.012)

A family (`Counter`, `Gauge`, `Histogram`) holds one child per tuple of label
values; a family without labels is its own only child. Updating a child is a
couple of attribute operations, so it is cheap enough for every request.
Nothing here takes a lock: rhc runs handlers on one thread.

`Registry.snapshot()` turns everything into plain data (`rhc.exposition`
describes it), which `render()` writes out and `merge()` sums across
worker processes.
"""
import logging
import math
import re
from bisect import bisect_left

from rhc.exposition import CONTENT_TYPE, PROCESS_METRIC_NAMES, merge, process_families, render

__all__ = ['Registry', 'Counter', 'Gauge', 'Histogram', 'REGISTRY', 'DEFAULT_BUCKETS',
           'DEFAULT_MAX_CHILDREN', 'OVERFLOW', 'CONTENT_TYPE', 'counter', 'gauge', 'histogram',
           'snapshot', 'exposition', 'render', 'merge']

log = logging.getLogger('rhc.metrics')

# Seconds, for a service that answers in milliseconds; +Inf is always added.
DEFAULT_BUCKETS = (.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10)

# Children a family keeps before further label values share one overflow
# child, so a label fed from client data cannot grow memory without bound.
DEFAULT_MAX_CHILDREN = 10_000

# The value of every label of the overflow child.
OVERFLOW = '__overflow__'

METRIC_NAME = re.compile(r'[a-zA-Z_:][a-zA-Z0-9_:]*\Z')
LABEL_NAME = re.compile(r'[a-zA-Z_][a-zA-Z0-9_]*\Z')


# -- children: the values themselves -------------------------------------------------

class CounterChild:
    __slots__ = ('value',)

    def __init__(self):
        self.value = 0

    def inc(self, amount=1):
        if amount < 0:
            raise ValueError(f'a counter only goes up; inc({amount!r}) is negative')
        self.value += amount


class GaugeChild:
    __slots__ = ('value',)

    def __init__(self):
        self.value = 0

    def inc(self, amount=1):
        self.value += amount

    def dec(self, amount=1):
        self.value -= amount

    def set(self, value):
        self.value = float(value)


class HistogramChild:
    __slots__ = ('bounds', 'counts', 'sum')

    def __init__(self, bounds):
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)   # per bucket; the last is +Inf
        self.sum = 0.0

    def observe(self, value):
        # bisect_left puts a value equal to a bound in that bound's bucket: le means <=.
        self.counts[bisect_left(self.bounds, value)] += 1
        self.sum += value


# -- families ---------------------------------------------------------------------------

class Family:
    """A named metric with fixed label names, and its children by label values."""

    type = None
    child_methods = ()

    def __init__(self, name, help, labels=(), max_children=DEFAULT_MAX_CHILDREN):
        self.name = name
        self.help = help
        self.label_names = _check_names(name, help, labels)
        self.max_children = max_children
        self._children = {}
        if not self.label_names:
            child = self._children[()] = self._new_child()
            # A family without labels is its own child: its methods are the child's
            # bound methods, so `counter.inc()` costs what `child.inc()` does.
            for method in self.child_methods:
                setattr(self, method, getattr(child, method))

    def labels(self, *values, **by_name):
        """The child for these label values (positional, or by name), made on first use.

        Values are strings; anything else is turned into one with str(), at
        the cost of a second lookup. Past `max_children`, new values share
        the child whose every label is OVERFLOW.
        """
        if by_name:
            values = self._by_name(values, by_name)
        child = self._children.get(values)
        if child is None:
            child = self._add(values)
        return child

    def _by_name(self, values, by_name):
        if values:
            raise ValueError(f'metric {self.name!r}: give label values by position or by name, not both')
        if set(by_name) != set(self.label_names):
            raise ValueError(f'metric {self.name!r} has labels {self.label_names}, not {tuple(by_name)}')
        return tuple(by_name[name] for name in self.label_names)

    def _add(self, values):
        if len(values) != len(self.label_names):
            if not self.label_names:
                raise ValueError(f'metric {self.name!r} has no labels; use it without .labels()')
            raise ValueError(f'metric {self.name!r} has labels {self.label_names}; '
                             f'got {len(values)} values {values!r}')
        key = tuple(_label_value(value) for value in values)
        child = self._children.get(key)
        if child is None:
            if self.max_children is not None and len(self._children) >= self.max_children:
                return self._overflow()
            child = self._children[key] = self._new_child()
        return child

    def _overflow(self):
        key = (OVERFLOW,) * len(self.label_names)
        child = self._children.get(key)
        if child is None:
            log.warning('metric %r reached %d children; further label values count as %r',
                        self.name, self.max_children, OVERFLOW)
            child = self._children[key] = self._new_child()
        return child

    def _new_child(self):
        raise NotImplementedError

    def definition(self):
        """What re-registering must match to get this family back."""
        return (self.type, self.help, self.label_names, self.max_children)

    def sample_names(self):
        return (self.name,)

    def snapshot(self):
        return {'name': self.name, 'type': self.type, 'help': self.help,
                'labels': list(self.label_names),
                'samples': [[list(key), child.value] for key, child in self._children.items()]}

    def _needs_labels(self, *args, **kwargs):
        raise ValueError(f'metric {self.name!r} has labels {self.label_names}; '
                         f'call .labels(...) first')


def _label_value(value):
    """A label value as a str that UTF-8 can carry (lone surrogates escaped)."""
    if type(value) is not str:
        value = str(value)
    try:
        value.encode('utf-8')
    except UnicodeEncodeError:
        value = value.encode('utf-8', 'backslashreplace').decode('utf-8')
    return value


class Counter(Family):
    """Counts up: requests served, bytes sent. Its name ends in `_total`."""

    type = 'counter'
    child_methods = ('inc',)
    inc = Family._needs_labels

    def __init__(self, name, help, labels=(), max_children=DEFAULT_MAX_CHILDREN):
        super().__init__(name, help, labels, max_children)
        if not name.endswith('_total'):
            raise ValueError(f'counter {name!r}: counter names end in _total '
                             f'(promtool insists); try {name + "_total"!r}')

    def _new_child(self):
        return CounterChild()


class Gauge(Family):
    """Goes up and down: requests in flight, connections open."""

    type = 'gauge'
    child_methods = ('inc', 'dec', 'set')
    inc = dec = set = Family._needs_labels

    def _new_child(self):
        return GaugeChild()


class Histogram(Family):
    """Counts observations (durations, sizes) into buckets of upper bounds."""

    type = 'histogram'
    child_methods = ('observe',)
    observe = Family._needs_labels

    def __init__(self, name, help, labels=(), buckets=DEFAULT_BUCKETS, max_children=DEFAULT_MAX_CHILDREN):
        self.buckets = _bounds(name, buckets)
        super().__init__(name, help, labels, max_children)
        if 'le' in self.label_names:
            raise ValueError(f'histogram {name!r}: label name "le" is reserved for bucket bounds')

    def _new_child(self):
        return HistogramChild(self.buckets)

    def definition(self):
        return super().definition() + (self.buckets,)

    def sample_names(self):
        return (self.name, f'{self.name}_bucket', f'{self.name}_sum', f'{self.name}_count')

    def snapshot(self):
        return {'name': self.name, 'type': self.type, 'help': self.help,
                'labels': list(self.label_names), 'buckets': list(self.buckets),
                'samples': [[list(key), list(child.counts), child.sum]
                            for key, child in self._children.items()]}


def _bounds(name, buckets):
    """Finite, strictly increasing bucket bounds as floats (a trailing +Inf dropped)."""
    bounds = [float(bound) for bound in buckets]
    if bounds and bounds[-1] == math.inf:
        bounds.pop()
    if not all(math.isfinite(bound) for bound in bounds):
        raise ValueError(f'metric {name!r}: bucket bounds must be finite numbers, got {buckets!r}')
    if any(a >= b for a, b in zip(bounds, bounds[1:])):
        raise ValueError(f'metric {name!r}: bucket bounds must increase, got {buckets!r}')
    return tuple(bounds)


# -- the registry -----------------------------------------------------------------------

class Registry:
    """The metric families one process exposes, in the order they were registered.

    With `process=True` a snapshot also carries the standard `process_*`
    metrics, read from /proc at snapshot time.
    """

    def __init__(self, process=True):
        self.process = process
        self._families = {}
        self._sample_names = {name: name for name in PROCESS_METRIC_NAMES} if process else {}

    def counter(self, name, help, labels=(), max_children=DEFAULT_MAX_CHILDREN):
        return self._register(Counter, name, help, labels, max_children=max_children)

    def gauge(self, name, help, labels=(), max_children=DEFAULT_MAX_CHILDREN):
        return self._register(Gauge, name, help, labels, max_children=max_children)

    def histogram(self, name, help, labels=(), buckets=DEFAULT_BUCKETS, max_children=DEFAULT_MAX_CHILDREN):
        return self._register(Histogram, name, help, labels, buckets=buckets, max_children=max_children)

    def _register(self, kind, name, help, labels, **options):
        family = kind(name, help, labels, **options)
        existing = self._families.get(name)
        if existing is not None:
            if existing.definition() == family.definition():
                return existing
            raise ValueError(f'metric {name!r} is already registered as a {existing.type} '
                             f'with help {existing.help!r}, labels {existing.label_names}; '
                             f'unregister it first to redefine it')
        for sample_name in family.sample_names():
            if sample_name in self._sample_names:
                raise ValueError(f'metric {name!r} would expose {sample_name!r}, '
                                 f'which metric {self._sample_names[sample_name]!r} already does')
        self._families[name] = family
        self._sample_names.update((sample_name, name) for sample_name in family.sample_names())
        return family

    def unregister(self, name):
        """Forget a family (so it can be registered anew); unknown names are ignored."""
        family = self._families.pop(name, None)
        if family is not None:
            for sample_name in family.sample_names():
                del self._sample_names[sample_name]

    def get(self, name):
        """The family registered as `name`, or None."""
        return self._families.get(name)

    def snapshot(self):
        """Every family and sample as plain data, process metrics read now."""
        families = [family.snapshot() for family in self._families.values()]
        if self.process:
            families += process_families()
        return {'families': families}

    def exposition(self):
        """The text format 0.0.4, as a str (send it UTF-8 encoded, as CONTENT_TYPE)."""
        return render(self.snapshot())


def _check_names(name, help, labels):
    """The label names as a tuple, once name, help and labels are known to be valid."""
    if not isinstance(name, str) or not METRIC_NAME.match(name):
        raise ValueError(f'metric name {name!r} is not valid: letters, digits, _ and :, '
                         f'not starting with a digit')
    if not isinstance(help, str) or not help:
        raise ValueError(f'metric {name!r} needs help text (a non-empty str)')
    if isinstance(labels, str):
        raise ValueError(f'metric {name!r}: labels is a sequence of names, not the string {labels!r}')
    labels = tuple(labels)
    for label in labels:
        if not isinstance(label, str) or not LABEL_NAME.match(label):
            raise ValueError(f'metric {name!r}: label name {label!r} is not valid: '
                             f'letters, digits and _, not starting with a digit')
        if label.startswith('__'):
            raise ValueError(f'metric {name!r}: label name {label!r} starts with __, '
                             f'reserved for Prometheus itself')
    if len(set(labels)) != len(labels):
        raise ValueError(f'metric {name!r}: label names {labels} repeat')
    return labels


# -- the process-wide default ---------------------------------------------------------

REGISTRY = Registry()


def counter(name, help, labels=(), max_children=DEFAULT_MAX_CHILDREN):
    """A Counter in the default registry (the same one again if already registered)."""
    return REGISTRY.counter(name, help, labels, max_children)


def gauge(name, help, labels=(), max_children=DEFAULT_MAX_CHILDREN):
    """A Gauge in the default registry (the same one again if already registered)."""
    return REGISTRY.gauge(name, help, labels, max_children)


def histogram(name, help, labels=(), buckets=DEFAULT_BUCKETS, max_children=DEFAULT_MAX_CHILDREN):
    """A Histogram in the default registry (the same one again if already registered)."""
    return REGISTRY.histogram(name, help, labels, buckets, max_children)


def snapshot():
    """The default registry's snapshot, for merging across workers."""
    return REGISTRY.snapshot()


def exposition():
    """The default registry in the text format, as a str."""
    return REGISTRY.exposition()
