"""The shop's tasks for Django's tasks framework (`django.tasks`; the django-tasks
backport on Django 5.2), enqueued to gearmand by the GearmanBackend in TASKS and
run by `manage.py gearman_worker --django-tasks`.

`note` and its siblings append one JSON line per run to the file they are
given, so that whoever enqueued them can see where and with what they ran.
"""

import json
import os
import time

from django_gearman.backends import task  # django.tasks.task, or django_tasks.task on Django 5.2


@task
def note(path, *args, **kwargs):
    _append(path, {"args": args, "kwargs": kwargs})


@task(takes_context=True)
def note_context(context, path):
    result = context.task_result
    _append(path, {"id": result.id, "attempt": context.attempt, "backend": result.backend,
                   "queue": result.task.queue_name, "args": result.args})


@task
async def note_async(path, text):
    _append(path, {"args": [text], "async": True})


@task
def note_time(path, label):
    """Notes when it ran (time.time()): for tasks enqueued with run_after."""
    _append(path, {"args": [label], "at": time.time()})


@task
def fail(message):
    raise ValueError(message)


@task
def total(*numbers):
    return sum(numbers)


def _append(path, entry: dict) -> None:
    line = json.dumps({"pid": os.getpid(), **entry}) + "\n"
    with open(path, "a") as notes:  # one write per line, at the end of the file
        notes.write(line)
