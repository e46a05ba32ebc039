"""What the reliability tests count: one row per run of a ledger task, by job id."""

from django.db import models


class Effect(models.Model):
    """A job's effect: written once per run, so a job run twice leaves two rows."""

    job_id = models.CharField(max_length=64, db_index=True)
    #: "done" when the task finished its work, "started" when it began (tasks that can be cut off).
    kind = models.CharField(max_length=16, default="done")
    pid = models.IntegerField(help_text="the worker process that ran it")
    server = models.CharField(max_length=64, help_text="the gearmand that assigned it")
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.kind} {self.job_id} by {self.pid}"
