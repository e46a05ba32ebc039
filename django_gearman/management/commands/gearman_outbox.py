from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError

from django_gearman import outbox
from django_gearman.client import default_client
from django_gearman.management.arguments import positive_float, positive_int
from django_gearman.management.commands.gearman_worker import configure_logging


class Command(BaseCommand):
    help = ("Send the stored jobs that are due (jobs submitted on commit while no server took them) to the "
            "servers in GEARMAN_CLIENT_SERVERS, deleting each once gearmand has it. Keeps relaying until "
            "SIGTERM/SIGINT; with --once, sends what is due, prints a summary and exits (1 if some could not "
            "be sent).")

    def add_arguments(self, parser):
        parser.add_argument("--once", action="store_true", help="send everything due now, then exit")
        parser.add_argument("--interval", type=positive_float, default=1.0, metavar="SECONDS",
                            help="without --once: how long to wait when nothing is due (default 1)")
        parser.add_argument("--batch", type=positive_int, default=outbox.BATCH_SIZE, metavar="N",
                            help=f"stored jobs claimed and sent together (default {outbox.BATCH_SIZE})")
        parser.add_argument("--database", metavar="ALIAS",
                            help="the database of the stored jobs (default: where the router sends StoredJob)")

    def handle(self, *args, once, interval, batch, database, verbosity, **options):
        configure_logging(verbosity)
        if not once:
            outbox.Relayer(default_client(), using=database, limit=batch).serve(interval)
            return
        send_due(self, database, batch)


def send_due(command: BaseCommand, database: str | None, batch: int = outbox.BATCH_SIZE) -> None:
    """--once: send the stored jobs that are due, write what is left; a CommandError names those not sent."""
    try:
        report = outbox.relay_due(default_client().transport, using=database, limit=batch)
        due, later = outbox.pending(database)
    except DatabaseError as exc:
        raise CommandError(f"cannot read the stored jobs: {type(exc).__name__}: {exc}") from None
    command.stdout.write(f"sent {report.sent} stored job(s); {due + later} still stored ({later} due later)")
    if report.failed:
        raise CommandError(f"{report.failed} stored job(s) could not be sent ({'; '.join(report.errors)}): "
                           f"job ids {outbox.describe_ids(report.failed_ids)}")
