from django.core.management.base import BaseCommand

from apps.ingest.outbox import outbox_sweep


class Command(BaseCommand):
    help = "Re-queue outbox batches whose ingest task has not run (beat does this every 30 s)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--stale-seconds",
            type=int,
            default=None,
            help="Only batches queued this long ago (default INGEST_OUTBOX_STALE_SECONDS).",
        )

    def handle(self, *args, stale_seconds: int | None = None, **options):
        queued = outbox_sweep(stale_seconds=stale_seconds)
        self.stdout.write(f"Re-queued {queued} outbox batch(es).")
