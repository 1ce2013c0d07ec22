import sys

from django.core.management.base import BaseCommand
from tqdm import tqdm

from apps.core.services import (
    expired_count,
    expired_purge,
    retention_cutoff,
    retention_targets,
)


class Command(BaseCommand):
    help = "Delete analytics rows older than each kind's retention, in bounded batches."

    def add_arguments(self, parser):
        parser.add_argument(
            "--dry-run", action="store_true", help="Only count what would be deleted."
        )

    def handle(self, *args, dry_run: bool = False, **options):
        for label, model, column in retention_targets():
            cutoff = retention_cutoff(label.split(":")[0])
            due = expired_count(model=model, cutoff=cutoff, column=column)
            if dry_run or not due:
                verb = "would delete" if dry_run else "deleted"
                self.stdout.write(f"{label}: {verb} {due} rows older than {cutoff:%Y-%m-%d}")
                continue
            with tqdm(total=due, desc=label, unit="rows", file=sys.stderr) as bar:
                deleted = expired_purge(
                    model=model, cutoff=cutoff, progress=bar.update, column=column
                )
            self.stdout.write(f"{label}: deleted {deleted} rows older than {cutoff:%Y-%m-%d}")
