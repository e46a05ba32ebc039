import json

from django.core.management.base import BaseCommand, CommandError

from django_gearman import results
from django_gearman.exceptions import GearmanError
from django_gearman.requeue import requeue


class Command(BaseCommand):
    help = ("Send stored jobs again (the result store's rows), each as a new background job linked to the "
            "original, and print what was sent. Nothing is sent if any of them cannot be.")

    def add_arguments(self, parser):
        parser.add_argument("job_ids", nargs="*", metavar="JOB_ID", help="job ids to send again")
        parser.add_argument("--failed", action="store_true", dest="all_failed",
                            help="every failed job that was not sent again yet, oldest first")
        parser.add_argument("--task", metavar="NAME", help="with --failed: only the jobs of this task")

    def handle(self, *args, job_ids, all_failed: bool, task, **options):
        if all_failed == bool(job_ids):
            raise CommandError("name the JOB_IDs to send again, or pass --failed", returncode=2)
        if task and not all_failed:
            raise CommandError("--task goes with --failed", returncode=2)
        if all_failed:
            job_ids = results.failed(task)
            if not job_ids:
                self.stdout.write("no failed jobs to requeue" + (f" for {task}" if task else ""))
                return
        try:
            sent = requeue(job_ids)
        except GearmanError as exc:
            raise CommandError(str(exc)) from None
        for job in sent:
            arguments = "raw data" if job.arguments is None else json.dumps(job.arguments, ensure_ascii=False)
            self.stdout.write(f"{job.original} -> {job.job_id}: {job.function} {arguments} "
                              f"(priority {job.priority}, handle {job.handle})")
