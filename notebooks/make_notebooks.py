"""Write the notebooks of this directory from the cells below: `python notebooks/make_notebooks.py`.

Each notebook is a list of ('md' | 'code', text) cells, saved as nbformat 4
without outputs. Every notebook serves on localhost only, from servers it
loads itself; tests/test_notebooks.py runs the code cells top to bottom.
"""
import json
import os

HERE = os.path.dirname(os.path.abspath(__file__))


def md(text):
    return ('markdown', text)


def code(text):
    return ('code', text)


PING_SERVER = [
    md("""# A simple REST service

Here is a rather useless ping server. It accepts `GET /test/ping` and responds with `{"ping": "pong"}`.

Start by making sure rhc is installed (`pip install -e .` in the repository, or `pip install rhc`),
and import a couple of components."""),
    code("""import rhc
import rhc.micro as micro
import rhc.async_ as async_"""),
    md("""`rhc.async_` is the module the original rhc called `rhc.async` (a reserved word since Python 3.7);
its names are also available directly from `rhc`.

## A REST handler

We'll start by creating a simple REST handler. A handler always has at least one argument,
`request`, which holds data about the incoming HTTP request. In this case, we ignore the request,
and simply return our desired result."""),
    code("""def ping(request):
    return {'ping': 'pong'}"""),
    md("""We can take a look at `ping` in order to know how to refer to it."""),
    code("""ping"""),
    md("""It lives in `__main__`, so the micro definition will call it `__main__.ping`.

## A REST server

A server is defined using the `SERVER`, `ROUTE` and method (`GET`, `POST`, `PUT`, `PATCH`, `DELETE`)
directives in a micro file. A simple definition follows."""),
    code("""p = micro.load_server([
  'SERVER useless 12345',
    'ROUTE /test/ping$',
      'GET __main__.ping',
])"""),
    md("""What's happening here?

### Function load_server

The `load_server` helper function dynamically loads server definitions. In this case, the definition
is contained in a list, but could also be loaded from a file by specifying the file's name, or by
specifying a dot-separated path to the file in the python code tree. Loading again replaces what was
loaded before, so re-running the cell never fails with "address in use".

In a microservice implementation, the server definitions are included in the micro file, or in one
of the imported files, and `python -m rhc.launch service.micro` serves them. This function is
included for experimentation and development.

### SERVER

The `SERVER` directive provides a name and a listening port for a service. The socket is started and
listens for incoming connections. All by itself, a `SERVER` doesn't provide much.

### ROUTE

The `ROUTE` directive watches for a specific HTTP resource on incoming connections. It is a regular
expression matched from the start of the path; the `$` anchors its end, so the resource is the exact
string `/test/ping`. Even when combined with a `SERVER`, a `ROUTE` doesn't provide much.

### GET

The `GET` directive tells micro what REST handler to run if an HTTP GET occurs on the most recently
defined `ROUTE`. In this case, we specify the `ping` function defined earlier. The handler is
imported when the server is set up, so a typo is reported right away, with its line.

`load_server` returns the service; its servers know the port they are listening on."""),
    code("""p.servers['useless'].port"""),
    md("""## Making a connection to the server

The useless server is now listening, but we need a way to connect to it. We start by defining a
connection to the listening port:"""),
    code("""con = async_.Connection('http://localhost:12345')"""),
    md("""And then doing a GET on the `/test/ping` resource."""),
    code("""result = async_.wait(con.get('/test/ping'))
result"""),
    code("""assert result == {'ping': 'pong'}"""),
    md("""## Behind the scenes

The `wait` function is pulling double duty here by running both the server code and the client code
until the client code completes. Each network event causes the microservice (here running inside
`wait`) to perform some action in response to the event. We'll look at each action in turn.

**connect.** When `con.get` (aka the client) is started, it opens a connection to localhost:12345, and
waits. It doesn't explicitly wait for anything, it just stops processing. There is nothing to do until
another network event occurs.

**accept.** When the `SERVER` listening on port 12345 sees the connect, it accepts the call and waits.

*For the curious:* the loop asks the operating system (with `selectors`) which sockets are ready. When
the listening socket is "readable", another socket is trying to connect; the loop "accepts" the
connection, creating a new socket which represents the microservice's side of the connection.

**send.** When the client is connected, it sends `GET /test/ping` to the server as an HTTP document
and waits.

**server receive.** When the server has received the entire HTTP document, it matches it to the
`ROUTE` and `GET` directives, and calls `__main__.ping`, which immediately returns the dictionary
`{'ping': 'pong'}`. The server sends the dictionary as a JSON document in an HTTP response to the
client and waits.

**client receive.** When the client has received the entire HTTP document, it tells the `wait`
function that it is done. `wait` returns the decoded JSON document and stops.

## When things go wrong

A resource the server does not route answers 404; `wait` raises an `rhc.CallError` whose `status`
says so."""),
    code("""try:
    async_.wait(con.get('/test/pong'))
except rhc.CallError as e:
    error = e
error.status, str(error)"""),
    code("""assert error.status == 404"""),
]


CONNECTION = [
    md("""# Calling a REST service with a CONNECTION

A `CONNECTION` describes another service this one calls: its url, and a `RESOURCE` for each call.
Positional arguments fill the `{...}` parts of a resource's path, then its `REQUIRED` names; keywords
fill its `OPTIONAL` names; the `REQUIRED` and `OPTIONAL` values are sent as a JSON body.

So that this notebook runs anywhere, we play the remote service ourselves: a small server on
localhost that echoes what it receives."""),
    code("""import rhc
import rhc.micro as micro

def document(request, post_id):
    return {'method': request.method, 'post_id': post_id, 'body': request.json,
            'greeting': request.headers.get('X-Greeting')}

micro.load_server([
  'SERVER placeholder 12345',
    r'ROUTE /posts/(\\d+)$',
      'ARG int',
      'GET __main__.document',
      'PUT __main__.document',
])"""),
    md("""## A CONNECTION

`load_connection` reads the connection definitions of a micro source (a list here, like
`load_server`) and makes each one available as `micro.connection.NAME`."""),
    code("""micro.load_connection([
  'CONNECTION placeholder http://localhost:12345',
    'HEADER X-Greeting default=hello',
    'RESOURCE document /posts/{post_id}',
      'REQUIRED first_name',
      'OPTIONAL planet default=earth',
    'RESOURCE update /posts/{post_id} method=PUT',
      'REQUIRED title',
])
placeholder = micro.connection.placeholder
placeholder"""),
    md("""### CONNECTION

The `CONNECTION` directive names the connection and gives its url. The url is also a setting
(`connection.placeholder.url`, or the environment variable `CONNECTION_PLACEHOLDER_URL`), so the same
micro file can point at a test service or the real one.

### HEADER

`HEADER` adds a header to every call of the connection (or of one resource, when it follows a
`RESOURCE`).

### RESOURCE, REQUIRED, OPTIONAL

`RESOURCE document /posts/{post_id}` makes `placeholder.document(post_id, first_name, planet=...)`.

## Calling a resource

Calling a resource does not touch the network: it returns a *partial*, a call ready to start.
`rhc.wait` starts it and runs the loop (serving our little server too) until it completes."""),
    code("""call = placeholder.document(1, 'ann')
call"""),
    code("""result = rhc.wait(call)
result"""),
    code("""assert result == {'method': 'GET', 'post_id': 1, 'greeting': 'hello',
                  'body': {'first_name': 'ann', 'planet': 'earth'}}"""),
    md("""Keywords fill the `OPTIONAL` names; `method=PUT` on a `RESOURCE` changes the method."""),
    code("""rhc.wait(placeholder.document(2, 'bo', planet='mars'))['body']"""),
    code("""assert rhc.wait(placeholder.update(3, 'a title'))['method'] == 'PUT'"""),
    md("""## Mistakes

Too few or too many arguments raise `TypeError` right away, naming the resource."""),
    code("""try:
    placeholder.document(1)
except TypeError as e:
    print(e)"""),
    md("""A call that fails raises `rhc.CallError` from `wait`; `.status` is the HTTP status, or `None`
when the service could not be reached at all."""),
    code("""try:
    rhc.wait(placeholder.document('not-a-number', 'ann'))
except rhc.CallError as e:
    print(e.status, e)"""),
    md("""## Without a micro file

`rhc.Connection` is the same client without the micro description: its `get`, `post`, `put`,
`patch` and `delete` return partials too. Keyword arguments become the JSON body."""),
    code("""con = rhc.Connection('http://localhost:12345', timeout=2)
rhc.wait(con.put('/posts/4', title='direct'))"""),
    md("""## Many calls at once

A partial takes a callback `callback(rc, result)`: `rc` is 0 on success. Starting several calls
before running the loop lets them proceed together; `rhc.run()` serves until `rhc.stop()`."""),
    code("""results = {}

def collect(post_id):
    def done(rc, result):
        results[post_id] = result['post_id'] if rc == 0 else result
        if len(results) == 3:
            rhc.stop()
    return done

for post_id in (10, 11, 12):
    placeholder.document(post_id, 'ann')(collect(post_id))
rhc.run()
results"""),
    code("""assert results == {10: 10, 11: 11, 12: 12}"""),
]


MOCK = [
    md("""# Mocking a CONNECTION

A handler that calls another service is hard to try out when that service is somewhere else. Any
connection loaded from a micro file can be *mocked*: set `micro.connection.NAME.mock` to an object,
and each resource call becomes a method call on that object, `RESOURCE(method, path, headers, body)`.
Its return value is the result; an exception it raises is the error."""),
    code("""import rhc
import rhc.micro as micro

micro.load_connection([
  'CONNECTION weather http://localhost:12345',
    'RESOURCE today /forecast/{city}',
    'RESOURCE report /reports method=POST',
      'REQUIRED city',
      'REQUIRED temperature',
])
weather = micro.connection.weather"""),
    md("""Nothing listens on port 12345 yet. Without a mock, the call fails."""),
    code("""try:
    rhc.wait(weather.today('paris'), timeout=5)
except rhc.CallError as e:
    print(e)"""),
    md("""## A mock

The mock is any object with a method per resource."""),
    code("""class FakeWeather:
    def __init__(self):
        self.reports = []

    def today(self, method, path, headers, body):
        return {'path': path, 'sky': 'clear', 'temperature': 21}

    def report(self, method, path, headers, body):
        if body['temperature'] > 60:
            raise ValueError('implausible temperature')
        self.reports.append(body)
        return {'saved': len(self.reports)}

fake = FakeWeather()
weather.mock = fake
rhc.wait(weather.today('paris'))"""),
    code("""assert rhc.wait(weather.today('paris')) == {'path': '/forecast/paris', 'sky': 'clear', 'temperature': 21}
assert rhc.wait(weather.report('oslo', 4)) == {'saved': 1}
fake.reports"""),
    md("""An exception raised by the mock is what `wait` raises."""),
    code("""try:
    rhc.wait(weather.report('oslo', 99))
except ValueError as e:
    print('the mock said:', e)"""),
    md("""## A handler that calls the connection

This is where mocks earn their place: serving a handler that calls another service, without that
service. `request.call` starts the call and answers the request when it completes (200 with its
result, or what `on_success` returns)."""),
    code("""def dress(request, city):
    def advice(request, forecast):
        return {'city': city, 'wear': 'a t-shirt' if forecast['temperature'] > 18 else 'a coat'}
    request.call(weather.today(city), on_success=advice)

service = micro.load_server([
  'SERVER advisor 0',
    r'ROUTE /dress/(\\w+)$',
      'GET __main__.dress',
])
advisor = rhc.Connection(f"http://localhost:{service.servers['advisor'].port}")
rhc.wait(advisor.get('/dress/paris'))"""),
    code("""assert rhc.wait(advisor.get('/dress/paris')) == {'city': 'paris', 'wear': 'a t-shirt'}"""),
    md("""Port 0 let the system pick a free port; `service.servers['advisor'].port` says which.

## Back to the network

Set `mock` back to `None` and the calls go to the url again. Here we start a real weather service on
port 12345 so there is something to answer."""),
    code("""def today(request, city):
    return {'path': request.path, 'sky': 'rain', 'temperature': 9}

micro.load_server([
  'SERVER weather 12345',
    r'ROUTE /forecast/(\\w+)$',
      'GET __main__.today',
])
weather.mock = None
rhc.wait(advisor.get('/dress/bergen'))"""),
    code("""assert rhc.wait(advisor.get('/dress/bergen')) == {'city': 'bergen', 'wear': 'a coat'}"""),
]


COROUTINES = [
    md("""# Coroutines: `async def` handlers and `await` in a cell

A handler may be an `async def`. Each `await` hands the loop back, so while one request waits
for another service, the same process serves others. rhc runs coroutines on its own loop (there
is no asyncio underneath), and a plain function still runs inline at no extra cost."""),
    code("""import time

import rhc
import rhc.micro as micro"""),
    md("""## A service that calls another

`square` is an ordinary handler. `total` is a coroutine: it asks for two squares *at once* with
`rhc.gather`, and adds them up when both have answered. Calls made with `rhc.Connection` (and
`micro.connection.NAME.RESOURCE(...)`) are awaitable."""),
    code("""def square(request, n):
    return {'square': n * n}


async def total(request, a, b):
    api = rhc.Connection('http://localhost:12345')
    one, two = await rhc.gather(api.get(f'/square/{a}'), api.get(f'/square/{b}'))
    return {'total': one['square'] + two['square']}


micro.load_server([
    'SERVER maths 12345',
    r'ROUTE /square/(\\d+)$',
    '  ARG int',
    '  GET __main__.square',
    r'ROUTE /total/(\\d+)/(\\d+)$',
    '  ARG int',
    '  ARG int',
    '  GET __main__.total',
])
api = rhc.Connection('http://localhost:12345')"""),
    md("""`rhc.wait` runs the loop until a call completes, serving the server meanwhile."""),
    code("""rhc.wait(api.get('/total/3/4'))"""),
    md("""## `rhc.wait` runs a coroutine too

A cell cannot `await` on rhc's loop directly (Jupyter's own `await` belongs to asyncio), so
write the steps as a coroutine and hand it to `rhc.wait`."""),
    code("""async def both_at_once():
    started = time.monotonic()
    squares = await rhc.gather(api.get('/square/5'), rhc.sleep(0.2, 'slept'))
    return squares, round(time.monotonic() - started, 1)


rhc.wait(both_at_once())"""),
    md("""## Timeouts cancel

`rhc.wait_for(call, seconds)` raises `rhc.CallError('timeout')` and cancels what it waited for:
a coroutine gets `rhc.Cancelled` at its `await`, and its `finally` blocks run."""),
    code("""cleaned_up = []


async def slow():
    try:
        await rhc.sleep(10)
    finally:
        cleaned_up.append('finally ran')


async def impatient():
    try:
        await rhc.wait_for(slow(), 0.1)
    except rhc.CallError as e:
        return str(e)


rhc.wait(impatient()), cleaned_up"""),
    md("""## Blocking libraries

A blocking call (a database driver, a CPU-heavy step) belongs on a thread: `rhc.to_thread` runs it
on a bounded pool and resumes the coroutine with its result, while the loop keeps serving."""),
    code("""async def off_the_loop():
    return await rhc.to_thread(sum, range(1_000_000))


assert rhc.wait(off_the_loop()) == 499999500000
assert rhc.wait(api.get('/total/1/2')) == {'total': 5}"""),
]


def notebook(cells):
    return {
        'cells': [
            {'cell_type': kind, 'metadata': {}, 'source': text.splitlines(keepends=True),
             **({'execution_count': None, 'outputs': []} if kind == 'code' else {})}
            for kind, text in cells
        ],
        'metadata': {
            'kernelspec': {'display_name': 'Python 3', 'language': 'python', 'name': 'python3'},
            'language_info': {'name': 'python'},
        },
        'nbformat': 4,
        'nbformat_minor': 4,
    }


NOTEBOOKS = {'ping_server.ipynb': PING_SERVER, 'connection.ipynb': CONNECTION, 'mock.ipynb': MOCK,
             'coroutines.ipynb': COROUTINES}


def main():
    for name, cells in NOTEBOOKS.items():
        with open(os.path.join(HERE, name), 'w', encoding='utf-8') as f:
            json.dump(notebook(cells), f, indent=1, ensure_ascii=False)
            f.write('\n')


if __name__ == '__main__':
    main()
