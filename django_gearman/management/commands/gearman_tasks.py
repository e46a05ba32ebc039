from django.core.management.base import BaseCommand, CommandError

from django_gearman.exceptions import UnknownWorker
from django_gearman.inspection import discovered_tasks, render_task_listing


class Command(BaseCommand):
    help = "List the tasks defined in installed apps' gearman_workers packages, with their Gearman function names."

    def add_arguments(self, parser):
        parser.add_argument("-a", "--app", help="only tasks of this app label")
        parser.add_argument("-q", "--queue", help="only tasks of this queue")

    def handle(self, *args, app, queue, **options):
        try:
            listings = discovered_tasks(app, queue)
        except UnknownWorker as exc:
            raise CommandError(exc.args[0], returncode=2) from None
        self.stdout.write(render_task_listing(listings))
