from django.core.management.base import BaseCommand

from apps.errors.backfill import BATCH, errors_group_all


class Command(BaseCommand):
    help = (
        "Fingerprint the errors stored without one (before issues existed) and group them "
        "into issues, in batches; safe to stop and run again."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--batch", type=int, default=BATCH, help=f"rows a statement ({BATCH})")

    def handle(self, *args, batch: int, **options) -> None:
        if not 1 <= batch <= 100_000:
            self.stderr.write("--batch: 1 to 100000")
            return
        total = errors_group_all(
            batch=batch, progress=lambda n: self.stdout.write(f"{n} error(s) grouped so far")
        )
        self.stdout.write(f"{total} error(s) grouped into issues.")
