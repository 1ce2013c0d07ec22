import sys

from django.core.management.base import BaseCommand
from tqdm import tqdm

from apps.ingest.retention import retention_purge


class Command(BaseCommand):
    help = "Delete analytics rows older than each kind's retention, in bounded batches."

    def add_arguments(self, parser):
        parser.add_argument(
            "--dry-run", action="store_true", help="Only count what would be deleted."
        )

    def handle(self, *args, dry_run: bool = False, **options):
        bars: list[tqdm] = []

        def progress(label: str, due: int):
            if not due:
                return None
            bars.append(tqdm(total=due, desc=label, unit="rows", file=sys.stderr))
            return bars[-1].update

        result = retention_purge(dry_run=dry_run, progress=progress)
        for bar in bars:
            bar.close()
        verb = "would delete" if dry_run else "deleted"
        for label, (count, cutoff) in result.items():
            self.stdout.write(f"{label}: {verb} {count} rows older than {cutoff:%Y-%m-%d}")
