import logging

from django.core.management.base import BaseCommand, CommandError

from django_gearman.discovery import find_worker_module
from django_gearman.exceptions import TasksFrameworkMissing, UnknownWorker
from django_gearman.management.arguments import positive_int
from django_gearman.worker import GearmanWorker

VERBOSITY_LEVELS = {0: logging.WARNING, 1: logging.INFO, 2: logging.DEBUG, 3: logging.DEBUG}


class Command(BaseCommand):
    help = ("Serve the tasks of one worker module (APP/gearman_workers/WORKER.py), or with --django-tasks the "
            "queues of a Django tasks backend, until SIGTERM/SIGINT.")

    def add_arguments(self, parser):
        parser.add_argument("-a", "--app", help="app label whose gearman_workers package to use")
        parser.add_argument("-n", "--name", help="worker module name inside gearman_workers")
        parser.add_argument("--django-tasks", action="store_true",
                            help="serve the queues of a GearmanBackend in TASKS (Django's tasks framework) instead")
        parser.add_argument("--backend", metavar="ALIAS",
                            help="with --django-tasks: the TASKS alias (default: default)")
        parser.add_argument("-q", "--queue", help="serve only the tasks of this queue")
        parser.add_argument("--max-jobs", type=positive_int, help="exit cleanly after this many jobs")
        parser.add_argument("--max-memory", type=positive_int, metavar="MB",
                            help="exit cleanly after a job once resident memory exceeds MB")
        parser.add_argument("--prefetch", type=positive_int, default=1,
                            help="job requests kept outstanding per server (default 1)")

    def handle(self, *args, app, name, django_tasks, backend, queue, max_jobs, max_memory, prefetch, verbosity,
               **options):
        configure_logging(verbosity)
        try:
            spec = worker_spec(app, name, django_tasks, backend, queue)
        except UnknownWorker as exc:  # not LookupError: a KeyError raised by a worker module must show its traceback
            raise CommandError(exc.args[0], returncode=2) from None
        except TasksFrameworkMissing as exc:
            raise CommandError(exc.args[0]) from None
        GearmanWorker(spec, max_jobs=max_jobs, max_memory_mb=max_memory, prefetch=prefetch).run()


def worker_spec(app, name, django_tasks: bool, backend, queue):
    """What to serve: -a APP -n WORKER [-q QUEUE], or --django-tasks [--backend ALIAS] [-q QUEUE]."""
    if django_tasks:
        if app or name:
            raise CommandError("--django-tasks serves a TASKS backend's queues; leave out -a/-n", returncode=2)
        from django_gearman.backend_worker import queues_spec  # needs Django's tasks framework

        return queues_spec(backend, queue)
    missing = [option for option, value in (("-a/--app", app), ("-n/--name", name)) if not value]
    if missing:
        raise CommandError(f"the following arguments are required: {', '.join(missing)} (or --django-tasks)",
                           returncode=2)
    if backend:
        raise CommandError("--backend goes with --django-tasks", returncode=2)
    return find_worker_module(app, name).spec(queue)


def configure_logging(verbosity: int) -> None:
    """-v sets the level of the django_gearman logger; add a handler only if the project has none."""
    logger = logging.getLogger("django_gearman")
    logger.setLevel(VERBOSITY_LEVELS.get(verbosity, logging.DEBUG))
    if not logger.handlers and not logging.getLogger().handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        logger.addHandler(handler)
