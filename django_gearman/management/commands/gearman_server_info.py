import time

from django.core.management.base import BaseCommand, CommandError

from django_gearman.inspection import (
    DEFAULT_TIMEOUT,
    configured_servers,
    inspect_servers,
    render_json,
    render_tables,
)
from django_gearman.management.arguments import positive_float

CLEAR_SCREEN = "\x1b[H\x1b[2J"


class Command(BaseCommand):
    help = (
        "Show every configured gearmand: version and ping, each task's workers and running/queued jobs, "
        "and the connected workers. Exits 1 if a server did not answer."
    )

    def add_arguments(self, parser):
        parser.add_argument("task_filter", nargs="?", metavar="FILTER",
                            help="only tasks whose Gearman name contains this text (case-sensitive)")
        parser.add_argument("--json", action="store_true", dest="as_json", help="print the same data as JSON")
        parser.add_argument("--watch", type=positive_float, metavar="SECONDS",
                            help="redraw every SECONDS until interrupted (with --json: one JSON document per line)")
        parser.add_argument("--timeout", type=positive_float, default=DEFAULT_TIMEOUT, metavar="SECONDS",
                            help=f"give up on a server that has not answered in SECONDS (default {DEFAULT_TIMEOUT:g})")

    def handle(self, *args, task_filter, as_json, watch, timeout, **options):
        servers = configured_servers()
        reports = []
        try:
            while True:
                reports = inspect_servers(servers, timeout, task_filter)
                if as_json:
                    output = render_json(reports, indent=None if watch else 2)
                else:
                    output = render_tables(reports)
                    if watch and self.stdout.isatty():
                        output = CLEAR_SCREEN + output
                self.stdout.write(output)
                self.stdout.flush()
                if watch is None:
                    break
                time.sleep(watch)
        except KeyboardInterrupt:
            pass
        down = [report.address for report in reports if not report.answered]
        if down:
            raise CommandError(f"{len(down)} of {len(reports)} servers did not answer: {', '.join(down)}")
