from django.core.management.base import BaseCommand

from apps.metrics.packing import minutes_pack, points_pack


class Command(BaseCommand):
    help = (
        "Pack the metric points and minute rollups of every day that is over into blocks "
        "now (beat's daily pack-metric-points); after an upgrade, or after beat was down."
    )

    def handle(self, *args, **options):
        packed = points_pack()
        for partition, points in packed.items():
            self.stdout.write(f"{partition}: {points:,} points packed")
        self.stdout.write(f"{sum(packed.values()):,} points of {len(packed)} day(s) packed")
        self.stdout.write(f"{minutes_pack():,} minute rollups packed")
