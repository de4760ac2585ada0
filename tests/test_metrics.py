"""rhc.metrics: the exposition judged by promtool and by prometheus_client's parser."""
import json
import logging
import math
import os
import subprocess
import sys

import pytest
from hypothesis import given, settings, strategies as st
from prometheus_client.parser import text_string_to_metric_families

import rhc.metrics
from rhc.exposition import process_families
from rhc.metrics import CONTENT_TYPE, OVERFLOW, Registry, merge, render

from metrics_support import promtool

HOSTILE = ['quote " here', 'back\\slash', 'new\nline', 'all "\\\n"', 'unicode é 😀 中文',
           '\\n literally', '', ' ', '}{,=']
HAS_PROC = os.path.exists('/proc/self/stat')


def samples(text):
    """{(sample name, frozenset of label items): value}, as prometheus_client reads the text."""
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            key = (sample.name, frozenset(sample.labels.items()))
            assert key not in found, f'duplicate series {key}'
            found[key] = sample.value
    return found


def value(parsed, name, **labels):
    return parsed[(name, frozenset(labels.items()))]


def busy_registry(process=True):
    """A registry with every kind of family, hostile label values and HELP text."""
    registry = Registry(process=process)
    calls = registry.counter('app_calls_total', 'Calls made.\nSecond line, with a \\ backslash.',
                             labels=('route', 'method'))
    for index, text in enumerate(HOSTILE):
        calls.labels(text, 'GET').inc(index + 1)
    registry.counter('app_plain_total', 'A counter without labels.').inc(5)
    registry.counter('app_unused_total', 'A labelled counter never used.', labels=('x',))
    in_flight = registry.gauge('app_in_flight', 'Requests being handled.')
    in_flight.inc(3)
    in_flight.dec()
    temps = registry.gauge('app_temperature_celsius', 'Readings "quoted" in help.', labels=('where',))
    temps.labels('inf').set(math.inf)
    temps.labels('-inf').set(-math.inf)
    temps.labels('nan').set(math.nan)
    temps.labels('tiny').set(1.5e-300)
    temps.labels('huge').set(1.5e300)
    temps.labels('negative').set(-2.25)
    latency = registry.histogram('app_latency_seconds', 'Handling time.', labels=('route',))
    for seconds in (0.0001, 0.0005, 0.003, 0.2, 42):
        latency.labels('/a "b"\n').observe(seconds)
    registry.histogram('app_size_bytes', 'Sizes.', buckets=(100, 1000, math.inf)).observe(500)
    return registry


# -- the outside oracles -----------------------------------------------------------

def test_everything_passes_promtool():
    text = busy_registry().exposition()
    promtool(text)
    assert '# HELP app_calls_total Calls made.\\nSecond line, with a \\\\ backslash.\n' in text
    if HAS_PROC:
        for name in ('process_resident_memory_bytes', 'process_virtual_memory_bytes',
                     'process_cpu_seconds_total', 'process_open_fds', 'process_max_fds',
                     'process_start_time_seconds'):
            assert f'\n{name} ' in text, name


def test_parser_reads_back_values_and_labels():
    text = busy_registry(process=False).exposition()
    parsed = samples(text)
    for index, label in enumerate(HOSTILE):
        assert value(parsed, 'app_calls_total', route=label, method='GET') == index + 1
    assert value(parsed, 'app_plain_total') == 5
    assert value(parsed, 'app_in_flight') == 2
    assert value(parsed, 'app_temperature_celsius', where='inf') == math.inf
    assert value(parsed, 'app_temperature_celsius', where='-inf') == -math.inf
    assert math.isnan(value(parsed, 'app_temperature_celsius', where='nan'))
    assert value(parsed, 'app_temperature_celsius', where='tiny') == 1.5e-300
    assert value(parsed, 'app_temperature_celsius', where='huge') == 1.5e300
    route = '/a "b"\n'
    expected = {'0.0005': 2, '0.001': 2, '0.0025': 2, '0.005': 3, '0.1': 3, '0.25': 4, '10.0': 4, '+Inf': 5}
    for le, count in expected.items():
        assert value(parsed, 'app_latency_seconds_bucket', route=route, le=le) == count, le
    assert value(parsed, 'app_latency_seconds_count', route=route) == 5
    assert value(parsed, 'app_latency_seconds_sum', route=route) == pytest.approx(42.2036)
    assert value(parsed, 'app_size_bytes_bucket', le='1000.0') == 1
    assert ('app_size_bytes_bucket', frozenset({('le', 'inf')})) not in parsed   # one +Inf only
    docs = {family.name: family.documentation for family in text_string_to_metric_families(text)}
    assert docs['app_calls'] == 'Calls made.\nSecond line, with a \\ backslash.'
    assert docs['app_temperature_celsius'] == 'Readings "quoted" in help.'


def test_counts_after_many_updates():
    registry = Registry(process=False)
    hits = registry.counter('hits_total', 'Hits.', labels=('code',))
    sizes = registry.histogram('size_bytes', 'Sizes.', buckets=(10, 100))
    for n in range(1000):
        hits.labels(str(n % 3)).inc()
        sizes.observe(n % 200)
    parsed = samples(registry.exposition())
    assert [value(parsed, 'hits_total', code=code) for code in '012'] == [334, 333, 333]
    assert value(parsed, 'size_bytes_bucket', le='10.0') == 5 * 11     # 0..10, le means <=
    assert value(parsed, 'size_bytes_bucket', le='100.0') == 5 * 101
    assert value(parsed, 'size_bytes_bucket', le='+Inf') == 1000
    assert value(parsed, 'size_bytes_count') == 1000
    assert value(parsed, 'size_bytes_sum') == 5 * sum(range(200))


@settings(max_examples=200, deadline=None)
# The parser strips each line it reads, so the help text is kept off the line's ends.
@given(st.lists(st.text(), min_size=1, max_size=4, unique=True), st.text().map(lambda t: f'<{t}>'))
def test_random_label_values_and_help_round_trip(values, help):
    registry = Registry(process=False)
    family = registry.gauge('random_value', help, labels=('v',))
    for index, label in enumerate(values):
        family.labels(label).set(index)
    parsed = samples(registry.exposition())
    assert {value(parsed, 'random_value', v=label) for label in values} == set(range(len(values)))
    [read] = text_string_to_metric_families(registry.exposition())
    assert read.documentation == help


@settings(max_examples=5, deadline=None)
@given(st.lists(st.text(), min_size=20, max_size=40, unique=True))
def test_random_label_values_pass_promtool(values):
    registry = Registry(process=False)
    family = registry.counter('random_total', 'Random labels.', labels=('v',))
    for label in values:
        family.labels(label).inc()
    promtool(registry.exposition())


def test_lone_surrogate_is_escaped_so_utf8_can_carry_it():
    registry = Registry(process=False)
    registry.counter('odd_total', 'Odd.', labels=('v',)).labels('a\udcff').inc()
    text = registry.exposition()
    text.encode('utf-8')
    assert value(samples(text), 'odd_total', v='a\\udcff') == 1


def test_content_type():
    assert CONTENT_TYPE == 'text/plain; version=0.0.4; charset=utf-8'


# -- names and registration ---------------------------------------------------------

@pytest.mark.parametrize('name', ['', '1abc', 'a-b', 'a b', 'é', 'a.b'])
def test_bad_metric_names(name):
    with pytest.raises(ValueError, match='is not valid'):
        Registry().gauge(name, 'Help.')


@pytest.mark.parametrize('label, message', [
    ('a-b', 'is not valid'), ('1a', 'is not valid'), ('a:b', 'is not valid'), ('', 'is not valid'),
    ('__name', 'reserved'),
])
def test_bad_label_names(label, message):
    with pytest.raises(ValueError, match=f"'my_gauge'.*{message}"):
        Registry().gauge('my_gauge', 'Help.', labels=(label,))


def test_other_definition_errors_name_the_metric():
    registry = Registry()
    with pytest.raises(ValueError, match="'h_seconds'.*\"le\" is reserved"):
        registry.histogram('h_seconds', 'Help.', labels=('le',))
    registry.counter('le_total', 'le is fine outside histograms.', labels=('le',))
    with pytest.raises(ValueError, match="'c'.*end in _total.*'c_total'"):
        registry.counter('c', 'Help.')
    with pytest.raises(ValueError, match="'g'.*repeat"):
        registry.gauge('g', 'Help.', labels=('a', 'a'))
    with pytest.raises(ValueError, match="'g'.*not the string"):
        registry.gauge('g', 'Help.', labels='route')
    with pytest.raises(ValueError, match="'g'.*help"):
        registry.gauge('g', '')
    with pytest.raises(ValueError, match="'h'.*increase"):
        registry.histogram('h', 'Help.', buckets=(1, 1))
    with pytest.raises(ValueError, match="'h'.*finite"):
        registry.histogram('h', 'Help.', buckets=(1, math.nan))
    assert registry.get('g') is None and registry.get('h') is None


def test_registering_again_returns_the_same_family():
    registry = Registry()
    first = registry.histogram('h_seconds', 'Help.', labels=('a',), buckets=(1, 2))
    assert registry.histogram('h_seconds', 'Help.', labels=['a'], buckets=[1.0, 2.0, math.inf]) is first
    plain = registry.counter('c_total', 'Help.')
    assert registry.counter('c_total', 'Help.') is plain


@pytest.mark.parametrize('again', [
    lambda r: r.counter('m_total', 'Other help.', labels=('a',)),
    lambda r: r.counter('m_total', 'Help.', labels=('b',)),
    lambda r: r.counter('m_total', 'Help.'),
    lambda r: r.counter('m_total', 'Help.', labels=('a',), max_children=5),
    lambda r: r.gauge('m_total', 'Help.', labels=('a',)),
])
def test_registering_differently_is_an_error(again):
    registry = Registry()
    registry.counter('m_total', 'Help.', labels=('a',))
    with pytest.raises(ValueError, match="'m_total' is already registered as a counter"):
        again(registry)


def test_sample_names_may_not_collide():
    registry = Registry()
    registry.histogram('h', 'Help.')
    with pytest.raises(ValueError, match="'h_count' would expose 'h_count', which metric 'h' already does"):
        registry.gauge('h_count', 'Help.')
    with pytest.raises(ValueError, match="'process_open_fds'"):
        registry.gauge('process_open_fds', 'Help.')
    Registry(process=False).gauge('process_open_fds', 'Help.')


def test_unregister_allows_a_new_definition():
    registry = Registry()
    registry.histogram('h', 'Help.')
    registry.unregister('h')
    registry.unregister('never_registered')
    assert registry.gauge('h_count', 'Help.').name == 'h_count'


def test_module_functions_use_the_default_registry():
    name = 'test_module_default_total'
    try:
        family = rhc.metrics.counter(name, 'Help.', labels=('a',))
        assert rhc.metrics.counter(name, 'Help.', labels=('a',)) is family
        assert rhc.metrics.REGISTRY.get(name) is family
        family.labels('x').inc(2)
        assert value(samples(rhc.metrics.exposition()), name, a='x') == 2
        assert rhc.metrics.gauge('test_module_gauge', 'Help.') is rhc.metrics.REGISTRY.get('test_module_gauge')
        histogram = rhc.metrics.histogram('test_module_seconds', 'Help.', buckets=(1,))
        assert histogram.buckets == (1.0,)
        assert any(f['name'] == name for f in rhc.metrics.snapshot()['families'])
    finally:
        for each in (name, 'test_module_gauge', 'test_module_seconds'):
            rhc.metrics.REGISTRY.unregister(each)


# -- children ---------------------------------------------------------------------

def test_labels_by_position_name_and_str():
    family = Registry().counter('calls_total', 'Help.', labels=('route', 'status'))
    child = family.labels('/a', '200')
    assert family.labels(route='/a', status='200') is child
    assert family.labels('/a', 200) is child
    assert family.labels(status=200, route='/a') is child
    with pytest.raises(ValueError, match="'calls_total' has labels .* got 1 values"):
        family.labels('/a')
    with pytest.raises(ValueError, match="'calls_total' has labels"):
        family.labels(route='/a', code='200')
    with pytest.raises(ValueError, match='not both'):
        family.labels('/a', status='200')
    with pytest.raises(ValueError, match=r"'calls_total' has labels .*call \.labels"):
        family.inc()
    with pytest.raises(ValueError, match='only goes up'):
        child.inc(-1)


def test_a_family_without_labels_is_its_own_child():
    registry = Registry(process=False)
    gauge = registry.gauge('level', 'Help.')
    gauge.inc(5)
    gauge.dec(2)
    assert samples(registry.exposition())[('level', frozenset())] == 3
    gauge.set(7.5)
    assert samples(registry.exposition())[('level', frozenset())] == 7.5
    with pytest.raises(ValueError, match="'level' has no labels"):
        gauge.labels('x')


def test_cardinality_cap_sends_new_values_to_one_overflow_child(caplog):
    registry = Registry(process=False)
    family = registry.counter('paths_total', 'Help.', labels=('path', 'method'), max_children=3)
    with caplog.at_level(logging.WARNING, logger='rhc.metrics'):
        for n in range(10):
            family.labels(f'/p{n}', 'GET').inc()
        family.labels('/p0', 'GET').inc()       # an existing child still counts as itself
    parsed = samples(registry.exposition())
    assert value(parsed, 'paths_total', path='/p0', method='GET') == 2
    assert value(parsed, 'paths_total', path=OVERFLOW, method=OVERFLOW) == 7
    assert len(parsed) == 4
    assert len([r for r in caplog.records if 'paths_total' in r.getMessage()]) == 1


# -- snapshots and merging ----------------------------------------------------------

def worker(count, observations):
    registry = Registry(process=False)
    registry.counter('jobs_total', 'Jobs.', labels=('kind',)).labels('a').inc(count)
    registry.gauge('busy', 'Busy workers.').set(1)
    latency = registry.histogram('job_seconds', 'Job time.', buckets=(0.1, 1))
    for seconds in observations:
        latency.observe(seconds)
    return registry


def test_rendering_a_snapshot_is_rendering_the_registry():
    registry = busy_registry(process=False)
    snapshot = registry.snapshot()
    assert render(snapshot) == registry.exposition()
    assert render(json.loads(json.dumps(snapshot))) == registry.exposition()


def test_merge_sums_counters_gauges_and_histograms():
    first, second = worker(3, [0.05, 0.5]), worker(4, [0.05, 5, 50])
    second.counter('jobs_total', 'Jobs.', labels=('kind',)).labels('b').inc()
    merged = merge([json.loads(json.dumps(first.snapshot())), second.snapshot()])
    text = render(merged)
    promtool(text)
    parsed = samples(text)
    assert value(parsed, 'jobs_total', kind='a') == 7
    assert value(parsed, 'jobs_total', kind='b') == 1
    assert value(parsed, 'busy') == 2
    assert [value(parsed, 'job_seconds_bucket', le=le) for le in ('0.1', '1.0', '+Inf')] == [2, 3, 5]
    assert value(parsed, 'job_seconds_count') == 5
    assert value(parsed, 'job_seconds_sum') == pytest.approx(55.6)
    assert render(merge([first.snapshot()])) == first.exposition()
    first.counter('jobs_total', 'Jobs.', labels=('kind',)).labels('a').inc()
    assert value(samples(render(merged)), 'jobs_total', kind='a') == 7    # a copy, not a view


def test_merge_resolve_lets_the_later_definition_win():
    old, new = Registry(process=False), Registry(process=False)
    old.counter('jobs_total', 'Jobs.').inc(2)
    new.counter('jobs_total', 'Jobs done.').inc(3)
    old.counter('kinds_total', 'Kinds.', labels=('kind',)).labels('x').inc()
    new.counter('kinds_total', 'Kinds.', labels=('sort',)).labels('y').inc(5)
    with pytest.raises(ValueError, match='jobs_total'):
        merge([old.snapshot(), new.snapshot()])
    text = render(merge([old.snapshot(), new.snapshot()], resolve=True))
    assert '# HELP jobs_total Jobs done.\n# TYPE jobs_total counter\njobs_total 5\n' in text
    assert 'kinds_total{sort="y"} 5\n' in text and 'kind=' not in text


@pytest.mark.skipif(not HAS_PROC, reason='no /proc here')
def test_merge_process_metrics():
    one, two = Registry().snapshot(), Registry().snapshot()
    for snapshot, start, rss in ((one, 2000.0, 10), (two, 1000.0, 20)):
        for family in snapshot['families']:
            if family['name'] == 'process_start_time_seconds':
                family['samples'] = [[[], start]]
            if family['name'] == 'process_resident_memory_bytes':
                family['samples'] = [[[], rss]]
    text = render(merge([one, two]))
    promtool(text)
    parsed = samples(text)
    assert value(parsed, 'process_start_time_seconds') == 1000.0
    assert value(parsed, 'process_resident_memory_bytes') == 30
    assert value(parsed, 'process_open_fds') >= 2


def test_merge_refuses_different_definitions():
    first = worker(1, [])
    other = Registry(process=False)
    other.histogram('job_seconds', 'Job time.', buckets=(0.1, 2))
    with pytest.raises(ValueError, match="'job_seconds' is defined differently"):
        merge([first.snapshot(), other.snapshot()])


def test_process_metrics_skip_quietly_without_proc(tmp_path):
    assert process_families(str(tmp_path / 'missing')) == []


def test_rhc_loads_metrics_on_first_use():
    code = ('import sys, rhc\n'
            'assert "rhc.metrics" not in sys.modules\n'
            'print(rhc.metrics.counter is sys.modules["rhc.metrics"].counter)')
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, timeout=20, check=True)
    assert out.stdout.strip() == 'True'
