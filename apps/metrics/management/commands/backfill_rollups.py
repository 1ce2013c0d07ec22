import sys
from concurrent.futures import ThreadPoolExecutor, as_completed
from datetime import UTC, datetime, timedelta

from django.core.management.base import BaseCommand, CommandError
from django.db import connection
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from tqdm import tqdm

from apps.metrics.rollups import metric_names, rollup_range


def _rebuild(day: datetime, names: list[str]) -> None:
    try:
        rollup_range(start=day, end=day + timedelta(days=1), metrics=names)
    finally:
        connection.close()  # each worker thread has its own connection


class Command(BaseCommand):
    help = "Rebuild metric rollups from raw points, whole UTC days, in parallel."

    def add_arguments(self, parser):
        parser.add_argument("--since", required=True, help="ISO 8601 moment, or e.g. 30d / 12h.")
        parser.add_argument("--until", help="ISO 8601 moment (default now).")
        parser.add_argument(
            "--jobs", type=int, default=2, help="rebuilds at once (default 2, one per core)"
        )

    def handle(self, *args, since: str, until: str | None = None, jobs: int = 2, **options):
        end = self._moment(until) if until else timezone.now()
        start = self._moment(since, relative_to=end)
        day = start.replace(hour=0, minute=0, second=0, microsecond=0)
        days = []
        while day < end:
            days.append(day)
            day += timedelta(days=1)
        jobs = max(1, jobs)
        names = metric_names()
        # Metrics dealt round-robin into one group per job: every (group, day) is
        # independent, so the work spreads evenly even over a single day.
        groups = [names[i::jobs] for i in range(jobs) if names[i::jobs]]
        work = [(d, g) for d in days for g in groups]
        with (
            ThreadPoolExecutor(max_workers=jobs) as pool,
            tqdm(total=len(work), desc="rollups", unit="part", file=sys.stderr) as bar,
        ):
            for future in as_completed([pool.submit(_rebuild, d, g) for d, g in work]):
                future.result()
                bar.update(1)
        self.stdout.write(
            f"Rebuilt rollups of {len(names)} metric(s) for {len(days)} day(s) "
            f"from {days[0]:%Y-%m-%d}."
        )

    def _moment(self, raw: str, relative_to: datetime | None = None) -> datetime:
        if relative_to is not None and raw[:-1].isdigit() and raw[-1] in "dh":
            amount = int(raw[:-1])
            delta = timedelta(days=amount) if raw[-1] == "d" else timedelta(hours=amount)
            return relative_to - delta
        moment = parse_datetime(raw)
        if moment is None:
            raise CommandError(f"{raw!r} is not an ISO 8601 moment (or Nd / Nh).")
        return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
