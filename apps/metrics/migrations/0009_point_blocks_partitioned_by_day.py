"""Blocks of packed metric points partitioned by day on their hour, like the points
(apps/ingest/partitions.py): dropped with the points' days."""

from django.db import migrations

from apps.ingest.partitions import partitioning_operations


class Migration(migrations.Migration):
    atomic = False  # builds an index concurrently

    dependencies = [("metrics", "0008_point_blocks")]

    operations = partitioning_operations("metrics", {"metric_block": "PointBlock"})
