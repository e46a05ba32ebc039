from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError

from django_gearman.client import default_client
from django_gearman.management.arguments import positive_float
from django_gearman.management.commands.gearman_outbox import send_due
from django_gearman.management.commands.gearman_worker import configure_logging
from django_gearman.scheduler import DEFAULT_INTERVAL, Scheduler


class Command(BaseCommand):
    help = ("Submit GEARMAN_SCHEDULE's periodic jobs and the delayed jobs (run_at=, countdown=, run_after) when "
            "they are due, to the servers in GEARMAN_CLIENT_SERVERS, until SIGTERM/SIGINT. Several may run at "
            "once: each run is submitted by one of them. With --once, does what is due now, prints a summary and "
            "exits (1 if some jobs could not be sent).")

    def add_arguments(self, parser):
        parser.add_argument("--interval", type=positive_float, default=DEFAULT_INTERVAL, metavar="SECONDS",
                            help="longest wait between two passes, and so how late a delayed job stored meanwhile "
                                 f"may be sent (default {DEFAULT_INTERVAL:g})")
        parser.add_argument("--once", action="store_true", help="one pass: store the due runs, send what is due, exit")
        parser.add_argument("--database", metavar="ALIAS",
                            help="the database of the schedule and the stored jobs (default: where the router "
                                 "sends them)")

    def handle(self, *args, interval, once, database, verbosity, **options):
        configure_logging(verbosity)
        try:
            scheduler = Scheduler(default_client(), using=database, interval=interval)
        except ImproperlyConfigured as exc:
            raise CommandError(str(exc)) from None
        if not once:
            scheduler.serve()
            return
        try:
            runs = scheduler.run_pass().runs
        except DatabaseError as exc:
            raise CommandError(f"cannot read the schedule: {type(exc).__name__}: {exc}") from None
        self.stdout.write(f"stored {len(runs)} schedule run(s){':' if runs else ''}"
                          f"{''.join(f' {run.job_id}' for run in runs)}")
        send_due(self, scheduler.using)
