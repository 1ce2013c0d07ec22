import sys
from datetime import UTC, datetime, timedelta

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from tqdm import tqdm

from apps.metrics.rollups import rollup_range


class Command(BaseCommand):
    help = "Rebuild metric rollups from raw points since a moment, one day at a time."

    def add_arguments(self, parser):
        parser.add_argument("--since", required=True, help="ISO 8601 moment, or e.g. 30d / 12h.")
        parser.add_argument("--until", help="ISO 8601 moment (default now).")

    def handle(self, *args, since: str, until: str | None = None, **options):
        end = self._moment(until) if until else timezone.now()
        start = self._moment(since, relative_to=end)
        day = start.replace(hour=0, minute=0, second=0, microsecond=0)
        days = []
        while day < end:
            days.append(day)
            day += timedelta(days=1)
        for day in tqdm(days, desc="rollups", unit="day", file=sys.stderr):
            rollup_range(start=day, end=min(day + timedelta(days=1), end))
        self.stdout.write(f"Rebuilt rollups for {len(days)} day(s) from {start:%Y-%m-%d %H:%M}.")

    def _moment(self, raw: str, relative_to: datetime | None = None) -> datetime:
        if relative_to is not None and raw[:-1].isdigit() and raw[-1] in "dh":
            amount = int(raw[:-1])
            return relative_to - (
                timedelta(days=amount) if raw[-1] == "d" else timedelta(hours=amount)
            )
        moment = parse_datetime(raw)
        if moment is None:
            raise CommandError(f"{raw!r} is not an ISO 8601 moment (or Nd / Nh).")
        return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
