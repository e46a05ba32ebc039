from django.core.management.base import BaseCommand, CommandError

from django_gearman import conf, results
from django_gearman.management.arguments import positive_float


class Command(BaseCommand):
    help = ("Delete stored job results older than GEARMAN_RESULT_TTL (or --ttl): finished before then, or "
            "unfinished with no sign of life since. Run it from cron.")

    def add_arguments(self, parser):
        parser.add_argument("--ttl", type=positive_float, metavar="SECONDS",
                            help="age in seconds beyond which results go (default GEARMAN_RESULT_TTL)")

    def handle(self, *args, ttl, verbosity, **options):
        ttl = ttl or conf.get().result_ttl
        if ttl is None:
            raise CommandError("GEARMAN_RESULT_TTL is None, so results are kept; pass --ttl SECONDS to prune anyway")
        deleted = results.prune(ttl)
        if verbosity:
            self.stdout.write(f"deleted {deleted} job result{'s' if deleted != 1 else ''} older than {ttl:g} s")
