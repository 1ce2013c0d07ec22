import sys

from django.core.management.base import BaseCommand
from tqdm import tqdm

from apps.core.services import expired_count, expired_purge, retention_cutoff
from apps.ingest.registry import all_kinds


class Command(BaseCommand):
    help = "Delete analytics rows older than each kind's retention, in bounded batches."

    def add_arguments(self, parser):
        parser.add_argument(
            "--dry-run", action="store_true", help="Only count what would be deleted."
        )

    def handle(self, *args, dry_run: bool = False, **options):
        for kind in all_kinds():
            cutoff = retention_cutoff(kind.name)
            due = expired_count(model=kind.model, cutoff=cutoff)
            if dry_run or not due:
                verb = "would delete" if dry_run else "deleted"
                self.stdout.write(f"{kind.name}: {verb} {due} rows older than {cutoff:%Y-%m-%d}")
                continue
            with tqdm(total=due, desc=kind.name, unit="rows", file=sys.stderr) as bar:
                deleted = expired_purge(model=kind.model, cutoff=cutoff, progress=bar.update)
            self.stdout.write(f"{kind.name}: deleted {deleted} rows older than {cutoff:%Y-%m-%d}")
