from django.core.management.base import BaseCommand

from apps.ingest.partitions import partition_bounds, partitioned_kinds, partitions_maintain


class Command(BaseCommand):
    help = (
        "Create the partitioned tables' days ahead and move the event keys' week on, now "
        "(beat's hourly maintain-partitions); then list each table's partitions."
    )

    def handle(self, *args, **options):
        for table, changed in partitions_maintain().items():
            self.stdout.write(f"{table}: {changed} partition(s) created or dropped")
        for kind in partitioned_kinds():
            table = kind.model._meta.db_table
            bounds = partition_bounds(table)
            if not bounds:
                continue
            days = [lower for _, lower, _ in bounds if lower is not None]
            self.stdout.write(
                f"{table}: {len(bounds)} partitions, days {min(days):%Y-%m-%d} to "
                f"{max(days):%Y-%m-%d}" + (" and the legacy one" if len(days) < len(bounds) else "")
            )
