import logging

from django.core.management.base import BaseCommand, CommandError

from django_gearman.discovery import app_spec, find_worker_module, project_spec
from django_gearman.exceptions import TasksFrameworkMissing, UnknownWorker
from django_gearman.management.arguments import positive_float, positive_int, server_list
from django_gearman.worker import OUTBOX_INTERVAL, GearmanWorker

VERBOSITY_LEVELS = {0: logging.WARNING, 1: logging.INFO, 2: logging.DEBUG, 3: logging.DEBUG}


class Command(BaseCommand):
    help = ("Serve Gearman tasks until SIGTERM/SIGINT: those of one worker module (-a APP -n WORKER, the way to "
            "run workers in production), of every worker module of an app (-a APP) or of the project (--all), or "
            "with --django-tasks the queues of a Django tasks backend.")

    def add_arguments(self, parser):
        serves = parser.add_mutually_exclusive_group()
        serves.add_argument("-a", "--app", help="app label whose gearman_workers package to serve")
        serves.add_argument("--all", action="store_true", dest="all_apps",
                            help="serve every worker module of every installed app (for development)")
        serves.add_argument("--django-tasks", action="store_true",
                            help="serve the queues of a GearmanBackend in TASKS (Django's tasks framework) instead")
        parser.add_argument("-n", "--name", help="with -a: only this worker module of gearman_workers")
        parser.add_argument("--backend", metavar="ALIAS",
                            help="with --django-tasks: the TASKS alias (default: default)")
        parser.add_argument("-q", "--queue", help="serve only the tasks of this queue")
        parser.add_argument("--servers", type=server_list, metavar="HOST[:PORT],...",
                            help="register with these gearmand servers instead of GEARMAN_WORKER_SERVERS")
        parser.add_argument("--max-jobs", type=positive_int, help="exit cleanly after this many jobs")
        parser.add_argument("--max-memory", type=positive_int, metavar="MB",
                            help="exit cleanly after a job once resident memory exceeds MB")
        parser.add_argument("--prefetch", type=positive_int, default=1,
                            help="job requests kept outstanding per server (default 1)")
        parser.add_argument("--outbox-interval", type=positive_float, default=OUTBOX_INTERVAL, metavar="SECONDS",
                            help="seconds between sending the stored jobs that are due, between jobs "
                                 f"(default {OUTBOX_INTERVAL:g})")
        parser.add_argument("--no-outbox", action="store_true", help="send no stored jobs (gearman_outbox does)")

    def handle(self, *args, app, name, all_apps, django_tasks, backend, queue, servers, max_jobs, max_memory,
               prefetch, outbox_interval, no_outbox, verbosity, **options):
        configure_logging(verbosity)
        try:
            spec = worker_spec(app, name, all_apps, django_tasks, backend, queue)
        except UnknownWorker as exc:  # not LookupError: a KeyError raised by a worker module must show its traceback
            raise CommandError(exc.args[0], returncode=2) from None
        except TasksFrameworkMissing as exc:
            raise CommandError(exc.args[0]) from None
        GearmanWorker(spec, servers=servers, max_jobs=max_jobs, max_memory_mb=max_memory, prefetch=prefetch,
                      outbox_interval=None if no_outbox else outbox_interval).run()


def worker_spec(app, name, all_apps: bool, django_tasks: bool, backend, queue):
    """What to serve: -a APP [-n WORKER], --all or --django-tasks [--backend ALIAS]; each with [-q QUEUE]."""
    if name and not app:
        raise CommandError("-n/--name names a worker module of an app: give the app with -a/--app", returncode=2)
    if backend and not django_tasks:
        raise CommandError("--backend goes with --django-tasks", returncode=2)
    if django_tasks:
        from django_gearman.backend_worker import queues_spec  # needs Django's tasks framework

        return queues_spec(backend, queue)
    if all_apps:
        return project_spec(queue)
    if not app:
        raise CommandError("say what to serve: -a APP [-n WORKER], --all or --django-tasks", returncode=2)
    return find_worker_module(app, name).spec(queue) if name else app_spec(app, queue)


def configure_logging(verbosity: int) -> None:
    """-v sets the level of the django_gearman logger; add a handler only if the project has none."""
    logger = logging.getLogger("django_gearman")
    logger.setLevel(VERBOSITY_LEVELS.get(verbosity, logging.DEBUG))
    if not logger.handlers and not logging.getLogger().handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        logger.addHandler(handler)
