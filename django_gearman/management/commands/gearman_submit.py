import json

from django.core.management.base import BaseCommand, CommandError

from django_gearman import GearmanClient, GearmanError, GearmanJobFailed
from django_gearman.management.arguments import json_array, json_object, positive_float


class Command(BaseCommand):
    help = (
        "Submit a task from a shell and print its result as JSON (or, with --background, its job handle). "
        "Exits 1 if the job failed, timed out or no server was reachable."
    )

    def add_arguments(self, parser):
        parser.add_argument("task", metavar="TASK", help="task name, as listed by gearman_tasks (without the prefix)")
        parser.add_argument("task_args", nargs="?", type=json_array, default=[], metavar="JSON_ARGS",
                            help="positional arguments as a JSON array, e.g. '[2, 3]'")
        parser.add_argument("--kwargs", type=json_object, default={}, metavar="JSON",
                            help="keyword arguments as a JSON object, e.g. '{\"width\": 300}'")
        parser.add_argument("--background", action="store_true", help="queue the job and print its handle")
        parser.add_argument("--priority", choices=("high", "normal", "low"))
        parser.add_argument("--timeout", type=positive_float, metavar="SECONDS",
                            help="give up waiting for the result after SECONDS (default GEARMAN_DEFAULT_TIMEOUT)")

    def handle(self, *args, task, task_args, kwargs, background, priority, timeout, verbosity, **options):
        try:
            outcome = GearmanClient().submit_job(
                task, args=task_args, kwargs=kwargs, background=background, priority=priority, poll_timeout=timeout
            )
        except GearmanJobFailed as exc:
            if verbosity >= 2 and exc.traceback:
                self.stderr.write(f"Remote traceback:\n{exc.traceback}")
            raise CommandError(str(exc)) from None
        except GearmanError as exc:
            raise CommandError(f"{type(exc).__name__}: {exc}") from None
        # Values JSON lacks (datetime, Decimal, ...) print as their str(); tuples as arrays.
        self.stdout.write(str(outcome) if background else json.dumps(outcome, ensure_ascii=False, default=str))
