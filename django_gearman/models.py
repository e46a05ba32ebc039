"""The app's tables: what must outlive a process.

`StoredJob` holds background jobs that are not in gearmand yet: jobs
submitted on commit while no server answered (the outbox) and jobs that may
only be sent later. Each row is the job exactly as it will go on the wire,
keyed by its job id, so sending it twice cannot make two jobs while gearmand
still holds the first.
"""

from __future__ import annotations

from django.db import models
from django.utils import timezone

PRIORITY_CHOICES = [("high", "high"), ("normal", "normal"), ("low", "low")]


class StoredJob(models.Model):
    job_id = models.CharField(max_length=64, primary_key=True)
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

    class Meta:
        ordering = ["due_at", "created_at"]
        verbose_name = "stored job"

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
