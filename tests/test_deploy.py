"""deploy/: the container image and the Kubernetes manifest, against the example they run.

The manifest is read with PyYAML; its probe paths must be the HEALTH and
READY paths of the example's micro file, its port the example's SERVER
port, and its timing must add up (the drain delay covers the readiness
probe's reaction, terminationGracePeriodSeconds covers delay and grace).
The Dockerfile is read as text (no image is built here). Last, the
container's command line is run here, with the manifest's arguments.
"""
import http.client
import json
import os
import re
import shlex
import signal

import pytest

import micro
from docs_support import ROOT

yaml = pytest.importorskip('yaml')

DEPLOY = os.path.join(ROOT, 'deploy')
EXAMPLE = os.path.join(ROOT, 'examples', 'ping')


@pytest.fixture(scope='module')
def manifest():
    with open(os.path.join(DEPLOY, 'kubernetes.yaml'), encoding='utf-8') as f:
        documents = [d for d in yaml.safe_load_all(f) if d]
    return {d['kind']: d for d in documents}


@pytest.fixture(scope='module')
def container(manifest):
    (only,) = manifest['Deployment']['spec']['template']['spec']['containers']
    return only


@pytest.fixture(scope='module')
def server():
    (only,) = micro.parse(os.path.join(EXAMPLE, 'service.micro')).servers.values()
    return only


@pytest.fixture(scope='module')
def dockerfile():
    with open(os.path.join(DEPLOY, 'Dockerfile'), encoding='utf-8') as f:
        lines = [line.strip() for line in f if line.strip() and not line.lstrip().startswith('#')]
    instructions = {}
    for line in lines:
        word, _, rest = line.partition(' ')
        instructions.setdefault(word.upper(), []).append(rest)
    return instructions


def option(args, name):
    return float(args[args.index(name) + 1])


def test_the_manifest_is_a_deployment_and_a_service(manifest):
    assert set(manifest) == {'Deployment', 'Service'}
    labels = manifest['Deployment']['spec']['template']['metadata']['labels']
    assert manifest['Service']['spec']['selector'] == labels
    assert manifest['Deployment']['spec']['selector']['matchLabels'] == labels


def test_the_probes_ask_the_examples_health_and_ready_paths(container, server):
    assert server.health is not None and server.ready is not None
    assert container['livenessProbe']['httpGet']['path'] == server.health.path
    assert container['readinessProbe']['httpGet']['path'] == server.ready.path
    assert container['startupProbe']['httpGet']['path'] == server.ready.path


def test_the_ports_are_the_examples(manifest, container, server):
    (port,) = container['ports']
    assert port['containerPort'] == server.port
    for probe in ('livenessProbe', 'readinessProbe', 'startupProbe'):
        assert container[probe]['httpGet']['port'] == port['name']
    assert manifest['Service']['spec']['ports'][0]['targetPort'] == port['name']


def test_the_timing_adds_up(manifest, container):
    args = container['args']
    delay, grace = option(args, '--drain-delay'), option(args, '--grace')
    pod = manifest['Deployment']['spec']['template']['spec']
    # The pod is killed only after rhc has had its drain delay, grace and TEARDOWN.
    assert pod['terminationGracePeriodSeconds'] > delay + grace
    # A balancer that health-checks like the readiness probe notices within the delay.
    readiness = container['readinessProbe']
    assert readiness['periodSeconds'] * readiness['failureThreshold'] < delay
    # rhc's master replaces a blocked worker before the liveness probe restarts the pod.
    liveness = container['livenessProbe']
    assert liveness['periodSeconds'] * liveness['failureThreshold'] > option(args, '--worker-timeout')
    # A rollout never has fewer ready pods than asked for.
    assert manifest['Deployment']['spec']['strategy']['rollingUpdate']['maxUnavailable'] == 0


def test_the_workers_match_the_cpu_limit(container):
    assert option(container['args'], '--workers') == float(container['resources']['limits']['cpu'])


def test_the_image_is_slim_python_run_by_a_user_in_exec_form(dockerfile, manifest):
    (base,) = dockerfile['FROM']
    assert re.fullmatch(r'python:3\.\d+-slim', base)
    (user,) = dockerfile['USER']
    assert user not in ('root', '0')
    pod = manifest['Deployment']['spec']['template']['spec']
    assert pod['securityContext']['runAsUser'] == int(user)
    for instruction in ('ENTRYPOINT', 'CMD'):
        (form,) = dockerfile[instruction]
        assert isinstance(json.loads(form), list), f'{instruction} is not in exec form'
    entrypoint = json.loads(dockerfile['ENTRYPOINT'][0])
    assert entrypoint[:3] == ['python', '-m', 'rhc.launch']
    # The micro file it serves is the example, copied where the entrypoint looks.
    assert 'examples/ping/ /app/service/' in dockerfile['COPY']
    assert entrypoint[3] == '/app/service/service.micro'


@pytest.mark.slow
def test_the_containers_command_serves_the_probes_and_drains(launch, container, dockerfile):
    entrypoint = json.loads(dockerfile['ENTRYPOINT'][0])
    micro_file = entrypoint[3].replace('/app/service', EXAMPLE)
    env = {'SERVER_USELESS_HOST': '127.0.0.1', 'SERVER_USELESS_PORT': '0'}
    args = list(container['args'])
    args[args.index('--drain-delay') + 1] = '0.2'       # a short one, here
    proc = launch(micro_file, *args, env=env).wait_listening()
    for probe in ('livenessProbe', 'readinessProbe', 'startupProbe'):
        conn = http.client.HTTPConnection('127.0.0.1', proc.port(), timeout=5)
        conn.request('GET', container[probe]['httpGet']['path'])
        assert conn.getresponse().status == 200, shlex.join(args)
        conn.close()
    proc.proc.send_signal(signal.SIGTERM)
    assert proc.proc.wait(15) == 0
