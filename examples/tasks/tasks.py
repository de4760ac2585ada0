"""Tasks in memory: 201 on create, 404 when missing, 409 on a duplicate id."""
import rhc

TASKS = {}


def _find(task_id):
    try:
        return TASKS[task_id]
    except KeyError:
        raise rhc.HTTPError(404, f'no task {task_id}') from None


def list_tasks(request, state=None):
    return [task for task in TASKS.values() if state in (None, task['state'])]


def create(request, id, title, state):
    if id in TASKS:
        raise rhc.HTTPError(409, f'task {id} exists')
    TASKS[id] = {'id': id, 'title': title, 'state': state}
    return 201, TASKS[id]


def read(request, task_id):
    return _find(task_id)


def update(request, task_id, title=None, state=None):
    task = _find(task_id)
    if title is not None:
        task['title'] = title
    if state is not None:
        task['state'] = state
    return task


def delete(request, task_id):
    _find(task_id)
    del TASKS[task_id]
    return 204
