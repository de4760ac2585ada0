"""Running wrk pinned to LOAD_CPU, and reading what it prints."""
import os
import shutil
import subprocess
import sys

from harness import LOAD_CPU, OtherLoad

UPLOAD_BYTES = 10 * 1024 * 1024
PIPELINE_DEPTH = 16

LUA_POST = """wrk.method = "POST"
wrk.body = string.rep("x", 1024)
wrk.headers["Content-Type"] = "application/octet-stream"
"""
LUA_CLOSE = """wrk.headers["Connection"] = "close"
"""
LUA_UPLOAD = f"""wrk.method = "POST"
wrk.body = string.rep("x", {UPLOAD_BYTES})
wrk.headers["Content-Type"] = "application/octet-stream"
"""
# wrk's own scripts/pipeline.lua: every write carries PIPELINE_DEPTH requests.
LUA_PIPELINE = f"""init = function(args)
   local r = {{}}
   for i = 1, {PIPELINE_DEPTH} do
      r[i] = wrk.format(nil, wrk.path)
   end
   req = table.concat(r)
end

request = function()
   return req
end
"""


def ensure_tools(install, nginx=True):
    """True when wrk (and nginx, if needed) are there; with `install`, as root, apt-get
    installs what is missing."""
    wanted = {'wrk': 'wrk', **({'nginx': 'nginx-light'} if nginx else {})}

    def missing():
        return [package for tool, package in wanted.items() if not shutil.which(tool)]
    if missing() and install and os.geteuid() == 0:
        print(f'missing: {" ".join(missing())}: apt-get update && apt-get install -y '
              f'{" ".join(missing())}', flush=True)
        subprocess.run(['apt-get', 'update'], check=False)
        subprocess.run(['apt-get', 'install', '-y', *missing()], check=False)
    if missing():
        print(f'{" and ".join(missing())} not installed. Install with:  apt-get install -y '
              f'{" ".join(missing())}\n(or run this harness as root with --install to have it do '
              'that)', file=sys.stderr)
        return False
    return True


UNITS = {'us': 1e-3, 'ms': 1.0, 's': 1000.0, 'm': 60000.0}


def to_ms(text):
    for unit in ('us', 'ms', 's', 'm'):
        if text.endswith(unit):
            try:
                return float(text[:-len(unit)]) * UNITS[unit]
            except ValueError:
                continue
    return None


def parse(output):
    """{'rps', 'p99_ms', 'p50_ms', 'requests', 'errors', 'non2xx'} from wrk --latency output."""
    result = {'rps': None, 'p99_ms': None, 'p50_ms': None, 'requests': None, 'errors': 0,
              'non2xx': 0}
    for line in output.splitlines():
        words = line.split()
        if not words:
            continue
        if words[0] == 'Requests/sec:':
            result['rps'] = float(words[1])
        elif words[0] == '99%' and len(words) > 1:
            result['p99_ms'] = to_ms(words[1])
        elif words[0] == '50%' and len(words) > 1:
            result['p50_ms'] = to_ms(words[1])
        elif len(words) > 1 and words[1] == 'requests' and words[0].isdigit():
            result['requests'] = int(words[0])
        elif line.strip().startswith('Socket errors:'):
            # Socket errors: connect 0, read 0, write 0, timeout 0
            for part in line.split(':', 1)[1].split(','):
                kind, _, count = part.strip().partition(' ')
                if kind != 'read':   # a read error is how wrk sees a server closing
                    result['errors'] += int(count)
        elif line.strip().startswith('Non-2xx or 3xx responses:'):
            result['non2xx'] = int(line.split(':')[1])
    return result


def run(port, path, connections, duration, lua=None, script_dir=None, own_pids=()):
    """One wrk run: parse()'s dict plus 'other_cpu_pct', the load of everything not ours."""
    argv = ['taskset', '-c', LOAD_CPU, 'wrk', '-t1', f'-c{connections}', f'-d{duration}s',
            '--latency', '--timeout', '10s']
    if lua is not None:
        script = os.path.join(script_dir, f'{abs(hash(lua))}.lua')
        with open(script, 'w') as f:
            f.write(lua)
        argv += ['-s', script]
    argv.append(f'http://127.0.0.1:{port}{path}')
    load = OtherLoad(*own_pids)
    load.start()
    done = subprocess.run(argv, capture_output=True, text=True, timeout=duration + 30)
    result = parse(done.stdout)
    result['other_cpu_pct'] = load.stop()
    if result['rps'] is None:
        raise RuntimeError(f'wrk failed: {done.stdout} {done.stderr}'.strip())
    return result


def version():
    try:
        line = subprocess.run(['wrk', '-v'], capture_output=True, text=True).stdout.split('\n')[0]
        return ' '.join(line.split()[:2])
    except OSError:
        return '?'
