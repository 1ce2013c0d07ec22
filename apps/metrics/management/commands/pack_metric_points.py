from django.core.management.base import BaseCommand

from apps.metrics.packing import points_pack, rollups_pack


class Command(BaseCommand):
    help = (
        "Pack the metric points and minute rollups of every hour over two hours, and the hour "
        "rollups of every day over, into blocks now (beat's hourly pack-metric-points); "
        "after an upgrade, or after beat was down."
    )

    def handle(self, *args, **options):
        packed = points_pack()
        for partition, points in packed.items():
            self.stdout.write(f"{partition}: {points:,} points packed")
        self.stdout.write(f"{sum(packed.values()):,} points of {len(packed)} day(s) packed")
        rollups = rollups_pack()
        self.stdout.write(f"{rollups['m']:,} minute and {rollups['h']:,} hour rollups packed")
