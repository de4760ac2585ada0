"""How numbers read in the report."""


def ms(value):
    if value is None:
        return '-'
    return f'{value * 1000:.0f} µs' if value < 1 else f'{value:.2f} ms'


def mib(kib):
    return '-' if kib is None else f'{kib / 1024:.1f} MiB'


def kib(value):
    return '-' if value is None else f'{value:.1f} KiB'


def pct(value):
    return '-' if value is None else f'{value:.0f}%'


def pct1(value):
    return '-' if value is None else f'{value:.1f}%'


def times(value):
    return '-' if value is None else f'{value:.2f}×'


def count(value):
    return '-' if value is None else f'{value:,.0f}'


def rate(value):
    return '-' if value is None else f'{value:,.0f}'


def mib_s(value):
    return '-' if value is None else f'{value:,.0f} MiB/s'


def ratio(a, b):
    return a / b if a and b else None


# metric -> how it is written
METRIC = {
    'rps': lambda v: '-' if v is None else f'{v:,.0f} req/s',
    'p99_ms': ms,
    'rss_kib': mib,
    'backend_conns': count,
    'mib_s': mib_s,
    'kib_per_conn': kib,
    'startup_ms': ms,
    'master_cpu_pct': pct1,
    'stream_vs_whole': lambda v: '-' if v is None else f'{100 * v:.0f}%',
}
