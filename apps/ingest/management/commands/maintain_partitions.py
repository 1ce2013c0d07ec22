from django.core.management.base import BaseCommand

from apps.ingest.partitions import WEEK, partition_bounds, partitions_maintain, time_tables


class Command(BaseCommand):
    help = (
        "Create the partitioned tables' days (or weeks) ahead and move the event keys' week "
        "on, now "
        "(beat's hourly maintain-partitions); then list each table's partitions."
    )

    def handle(self, *args, **options):
        for table, changed in partitions_maintain().items():
            self.stdout.write(f"{table}: {changed} partition(s) created or dropped")
        for spec in time_tables():
            table = spec.table
            bounds = partition_bounds(table)
            if not bounds:
                continue
            starts = [lower for _, lower, _ in bounds if lower is not None]
            period = "weeks" if spec.size == WEEK else "days"
            self.stdout.write(
                f"{table}: {len(bounds)} partitions, {period} {min(starts):%Y-%m-%d} to "
                f"{max(starts):%Y-%m-%d}"
                + (" and the legacy one" if len(starts) < len(bounds) else "")
            )
