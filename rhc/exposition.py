"""Metric snapshots: the plain structure, its text exposition, and merging.

A snapshot is what `rhc.metrics.Registry.snapshot()` returns: plain lists,
dicts, strings and numbers, so a worker process can hand it to its master
as JSON (NaN and infinities go through Python's `json` as its `NaN` and
`Infinity` tokens; rhc/scrapes.py sums the workers' with `merge`)::

    {'families': [
        {'name': 'rhc_requests_total', 'type': 'counter', 'help': '...',
         'labels': ['route', 'method'],
         'samples': [[['/items', 'GET'], 3], ...]},           # [values, value]
        {'name': 'rhc_request_duration_seconds', 'type': 'histogram',
         'help': '...', 'labels': ['route'],
         'buckets': [0.005, 0.01, ...],                        # finite bounds
         'samples': [[['/items'], [2, 0, ..., 1], 0.75], ...]},  # [values, counts, sum]
    ]}

Histogram counts are per bucket, not cumulative, one more than `buckets`
(the last is `+Inf`); rendering makes them cumulative. Rendering follows the
Prometheus text format 0.0.4; this module knows nothing of registries, so
rendering a merged snapshot and rendering a live registry are one code path.
"""
import math
import os
from functools import lru_cache

CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8'

# Merging sums every sample (process_max_fds too: the limit of the summed
# process_open_fds), except these: a group of processes started when its
# first member did (under --workers, the master).
MERGE_BY_MIN = frozenset({'process_start_time_seconds'})


def format_value(value):
    """A sample value as the text format (and Go's ParseFloat) reads it."""
    if type(value) is int:
        return str(value)
    value = float(value)
    if math.isfinite(value):
        return repr(value)
    if math.isnan(value):
        return 'NaN'
    return '+Inf' if value > 0 else '-Inf'


def escape_help(text):
    return text.replace('\\', r'\\').replace('\n', r'\n')


def escape_label_value(text):
    return text.replace('\\', r'\\').replace('\n', r'\n').replace('"', r'\"')


def _label_pairs(names, values):
    return [f'{name}="{escape_label_value(value)}"' for name, value in zip(names, values)]


def _braced(pairs):
    return '{' + ','.join(pairs) + '}' if pairs else ''


def render(snapshot):
    """The text exposition (a str; encode it as UTF-8 to send) of a snapshot."""
    lines = []
    for family in snapshot['families']:
        name, kind, names = family['name'], family['type'], family['labels']
        lines.append(f'# HELP {name} {escape_help(family["help"])}')
        lines.append(f'# TYPE {name} {kind}')
        if kind == 'histogram':
            les = [f'le="{format_value(float(bound))}"' for bound in family['buckets']] + ['le="+Inf"']
            for values, counts, total in family['samples']:
                pairs = _label_pairs(names, values)
                cumulative = 0
                for le, count in zip(les, counts):
                    cumulative += count
                    lines.append(f'{name}_bucket{_braced(pairs + [le])} {cumulative}')
                lines.append(f'{name}_sum{_braced(pairs)} {format_value(total)}')
                lines.append(f'{name}_count{_braced(pairs)} {cumulative}')
        else:
            for values, value in family['samples']:
                lines.append(f'{name}{_braced(_label_pairs(names, values))} {format_value(value)}')
    return '\n'.join(lines) + '\n' if lines else ''


def _shape(family):
    """What samples must share to be summed: type, label names, bucket bounds."""
    return (family['type'], list(family['labels']), [float(b) for b in family.get('buckets', ())])


def _fresh(family):
    merged = {**family, 'labels': list(family['labels']), 'samples': []}
    if 'buckets' in family:
        merged['buckets'] = list(family['buckets'])
    return merged


def merge(snapshots, resolve=False):
    """One snapshot summing several (say, one per worker process).

    Families and samples are matched by name and label values and keep the
    order they are first seen in. A family defined differently in two
    snapshots is a ValueError naming it; with `resolve=True` the later
    snapshot's definition wins instead (workers of two versions of a service,
    during a SIGHUP): a new help text is taken, and a new type, label names
    or buckets drop the samples merged so far for that family.
    """
    families = {}       # name -> merged family
    rows = {}           # name -> {label values: merged sample row}
    for snapshot in snapshots:
        for family in snapshot['families']:
            name = family['name']
            merged = families.get(name)
            if merged is None:
                merged = families[name] = _fresh(family)
                rows[name] = {}
            elif _shape(merged) != _shape(family) or merged['help'] != family['help']:
                if not resolve:
                    raise ValueError(f'metric {name!r} is defined differently in the snapshots '
                                     f'being merged')
                if _shape(merged) != _shape(family):
                    merged = families[name] = _fresh(family)
                    rows[name] = {}
                merged['help'] = family['help']
            combine = min if name in MERGE_BY_MIN else _add
            histogram = family['type'] == 'histogram'
            for sample in family['samples']:
                key = tuple(sample[0])
                row = rows[name].get(key)
                if row is None:
                    row = rows[name][key] = [list(key), *sample[1:]]
                    if histogram:
                        row[1] = list(row[1])
                    merged['samples'].append(row)
                elif histogram:
                    row[1] = [a + b for a, b in zip(row[1], sample[1])]
                    row[2] += sample[2]
                else:
                    row[1] = combine(row[1], sample[1])
    return {'families': list(families.values())}


def _add(a, b):
    return a + b


# -- the standard process_* metrics, read from /proc where there is one ----------

def _family(name, kind, help, value):
    return {'name': name, 'type': kind, 'help': help, 'labels': [], 'samples': [[[], value]]}


PROCESS_METRIC_NAMES = (
    'process_virtual_memory_bytes', 'process_resident_memory_bytes',
    'process_start_time_seconds', 'process_cpu_seconds_total',
    'process_open_fds', 'process_max_fds',
)


@lru_cache(maxsize=None)
def _boot_time():
    """Seconds since the epoch at boot (/proc/stat `btime`), or None."""
    try:
        with open('/proc/stat', 'rb') as stat:
            for line in stat:
                if line.startswith(b'btime '):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def process_families(proc='/proc/self'):
    """Snapshot families for this process, read now; none where /proc is missing."""
    families = []
    boot = _boot_time()
    try:
        with open(f'{proc}/stat', 'rb') as stat:
            # The command name in parentheses may hold spaces; fields follow the last ')'.
            fields = stat.read().rpartition(b')')[2].split()
        ticks = os.sysconf('SC_CLK_TCK')
        families += [
            _family('process_virtual_memory_bytes', 'gauge', 'Virtual memory size in bytes.',
                    int(fields[20])),
            _family('process_resident_memory_bytes', 'gauge', 'Resident memory size in bytes.',
                    int(fields[21]) * os.sysconf('SC_PAGE_SIZE')),
            _family('process_cpu_seconds_total', 'counter', 'Total user and system CPU time spent in seconds.',
                    (int(fields[11]) + int(fields[12])) / ticks),
        ]
        if boot is not None:
            families.append(_family('process_start_time_seconds', 'gauge',
                                    'Start time of the process since unix epoch in seconds.',
                                    boot + int(fields[19]) / ticks))
    except (OSError, ValueError, IndexError):
        pass
    try:
        families.append(_family('process_open_fds', 'gauge', 'Number of open file descriptors.',
                                len(os.listdir(f'{proc}/fd'))))
        with open(f'{proc}/limits', 'rb') as limits:
            for line in limits:
                if line.startswith(b'Max open files'):
                    soft = line.split()[3]
                    if soft.isdigit():      # 'unlimited' is not a number to report
                        families.append(_family('process_max_fds', 'gauge',
                                                'Maximum number of open file descriptors.', int(soft)))
                    break
    except OSError:
        pass
    return families
