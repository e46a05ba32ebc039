"""The app's tables: what must outlive a process.

`StoredJob` holds background jobs that are not in gearmand yet: jobs
submitted on commit while no server answered (the outbox) and jobs that may
only be sent later. Each row is the job exactly as it will go on the wire,
with its job id as gearmand's unique id, so sending it twice cannot make two
jobs while gearmand still holds the first.

`ScheduleState` is where each GEARMAN_SCHEDULE entry stands (next and last
run), shared by every scheduler.
"""

from __future__ import annotations

from django.db import models
from django.utils import timezone

PRIORITY_CHOICES = [("high", "high"), ("normal", "normal"), ("low", "low")]


class StoredJob(models.Model):
    id = models.BigAutoField(primary_key=True)
    # gearmand knows a job by (unique id, function), so one row per pair: the same
    # id given to two tasks (unique=True with equal arguments) is two jobs.
    job_id = models.CharField(max_length=64, help_text="the job's id, gearmand's unique id")
    function = models.CharField(max_length=255, help_text="the Gearman function name, prefix included")
    payload = models.BinaryField(help_text="the job's data as it goes on the wire")
    priority = models.CharField(max_length=6, choices=PRIORITY_CHOICES, default="normal")
    due_at = models.DateTimeField(default=timezone.now, db_index=True, help_text="not sent before this time")
    created_at = models.DateTimeField(default=timezone.now)
    attempts = models.PositiveIntegerField(default=0, help_text="how often sending it failed")
    last_error = models.TextField(blank=True)
    claimed_until = models.DateTimeField(
        null=True, blank=True, help_text="a relayer is sending it; others leave it alone until then"
    )
    claimed_by = models.CharField(max_length=32, blank=True, help_text="the token of the relayer holding the claim")

    class Meta:
        ordering = ["due_at", "id"]
        verbose_name = "stored job"
        constraints = [models.UniqueConstraint(fields=["function", "job_id"], name="django_gearman_storedjob_job")]

    def __str__(self) -> str:
        return f"{self.function} ({self.job_id})"


class Server(models.Model):
    """No table: the admin's Servers page (what `gearman_server_info` shows), which the
    admin index lists under Gearman as it lists models; "Can view server" opens it."""

    class Meta:
        managed = False
        default_permissions = ("view",)
        verbose_name = "server"


class JobLookup(models.Model):
    """No table: the admin's page for one job by id or handle, its live status from gearmand
    and then its stored result; "Can view job lookup" opens it."""

    class Meta:
        managed = False
        default_permissions = ("view",)
        verbose_name = "job lookup"
        verbose_name_plural = "job lookup"


class JobResult(models.Model):
    """What became of one job, keyed by its job id: written by whoever submits it
    (`queued`) and by the worker that runs it (`running`, then `succeeded` or
    `failed`), when the result store is on for its task. See docs/results.md."""

    class Status(models.TextChoices):
        QUEUED = "queued"  # submitted, or waiting for its next attempt after a failure it is retried for
        RUNNING = "running"
        SUCCEEDED = "succeeded"
        FAILED = "failed"

    job_id = models.CharField(max_length=64, primary_key=True)
    task = models.CharField(max_length=255, db_index=True, help_text="the task name, without GEARMAN_TASK_PREFIX")
    function = models.CharField(max_length=255, help_text="the Gearman function name, prefix included")
    status = models.CharField(max_length=9, choices=Status.choices, db_index=True)
    arguments = models.JSONField(
        null=True, blank=True, help_text='{"args": [...], "kwargs": {...}} as sent (tagged JSON); null for raw data'
    )
    payload = models.BinaryField(help_text="the job's data as it went on the wire, to send it again")
    priority = models.CharField(max_length=6, choices=PRIORITY_CHOICES, default="normal")
    return_value = models.JSONField(null=True, blank=True, help_text="tagged JSON, as the JSON serializer sends it")
    error_type = models.CharField(max_length=255, blank=True, help_text="of the latest failed attempt")
    error_message = models.TextField(blank=True)
    traceback = models.TextField(blank=True)
    attempts = models.PositiveIntegerField(default=0, help_text="runs started, retries included")
    worker_id = models.CharField(max_length=255, blank=True, help_text="the worker of the latest attempt")
    handle = models.CharField(max_length=255, blank=True, db_index=True,
                              help_text="gearmand's job handle, str(JobHandle)")
    enqueued_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True, help_text="when the first attempt started")
    last_attempted_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True, db_index=True)
    requeued_from = models.CharField(
        max_length=64, blank=True, db_index=True, help_text="the job id this job was sent again for"
    )

    class Meta:
        ordering = ["-enqueued_at"]
        verbose_name = "job result"
        permissions = [("requeue_jobresult", "Can requeue failed jobs")]  # the admin's Requeue action

    def __str__(self) -> str:
        return f"{self.task} ({self.job_id}): {self.status}"


class ScheduleState(models.Model):
    """Where one GEARMAN_SCHEDULE entry stands: its next slot, and its last run.

    Schedulers claim a run by moving `next_run_at` on with a conditional UPDATE,
    in the transaction that stores the run as a `StoredJob` (see scheduler.py).
    """

    name = models.CharField(max_length=64, primary_key=True, help_text="the entry's name in GEARMAN_SCHEDULE")
    timing = models.CharField(max_length=255, help_text="the entry's cron or every when next_run_at was computed")
    next_run_at = models.DateTimeField(help_text="the slot of the next run")
    last_slot = models.DateTimeField(null=True, blank=True, help_text="the slot of the last run")
    last_run_at = models.DateTimeField(null=True, blank=True, help_text="when a scheduler stored the last run")
    last_job_id = models.CharField(max_length=64, blank=True, help_text="the last run's job id")

    class Meta:
        ordering = ["name"]
        verbose_name = "schedule entry"
        verbose_name_plural = "schedule"

    def __str__(self) -> str:
        return self.name
