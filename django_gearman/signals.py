"""Hooks into a worker's life, as Django signals.

Connect receivers in your `AppConfig.ready()`; they run inside the
`gearman_worker` process. Every receiver takes `sender` and `**kwargs`:

- ``worker_started(sender=worker)``: about to serve (servers that are down
  are connected in the background).
- ``worker_stopping(sender=worker)``: stopped taking jobs (first SIGTERM or
  SIGINT, ``--max-jobs``, ``--max-memory``), the last job's result is
  delivered; the process exits after the receivers return. Not sent when a
  second signal makes the worker exit at once.
- ``task_started(sender=task, job=job)``: a job is about to run.
- ``task_finished(sender=task, job=job, result=value)``: it returned `value`.
- ``task_retried(sender=task, job=job, exception=exc, attempt=n, delay=seconds)``:
  attempt `n` (1 for the first) raised `exc`, which the task retries
  (`@gearman_task(retries=...)`); the next attempt starts after `delay` seconds.
- ``task_failed(sender=task, job=job, exception=exc)``: it raised `exc` (or
  its payload was rejected) and is not retried (again); the client gets
  `GearmanJobFailed`.

`worker` is a `django_gearman.worker.GearmanWorker` (`.spec`, with the
`.label` of what it serves; `.queue`, `.tasks`, `.jobs_done`), `task` a
`django_gearman.Task` (`.name`, `.queue`), `job` a `django_gearman.protocol.Job`
(`.handle`, `.function`, `.unique`, `.data`).
A receiver that raises is logged and does not change the job's outcome.
"""

from django.dispatch import Signal

worker_started = Signal()
worker_stopping = Signal()
task_started = Signal()
task_finished = Signal()
task_retried = Signal()
task_failed = Signal()
