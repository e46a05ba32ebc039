"""Hooks into a worker's life, as Django signals.

- ``worker_started(sender=worker)``: registered with gearmand, about to serve.
- ``worker_stopping(sender=worker)``: stopped taking jobs; runs before exit.
- ``task_started(sender=task, job=job)``: a job is about to run.
- ``task_finished(sender=task, job=job, result=value)``: it returned.
- ``task_failed(sender=task, job=job, exception=exc)``: it raised (or its payload was rejected).

`worker` is a `django_gearman.worker.Worker`, `task` a `django_gearman.Task`,
`job` a `django_gearman.protocol.Job`.
"""

from django.dispatch import Signal

worker_started = Signal()
worker_stopping = Signal()
task_started = Signal()
task_finished = Signal()
task_failed = Signal()
