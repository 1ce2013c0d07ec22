"""AI usage partitioned by week, converted in place (apps/ingest/partitions.py, `table_partition`)."""

from django.db import migrations

from apps.ingest.partitions import partitioning_operations


class Migration(migrations.Migration):
    atomic = False  # builds indexes concurrently

    dependencies = [
        ("ingest", "0003_dedupe_keys"),
        ("ai", "0005_estimated_cost"),
    ]

    operations = partitioning_operations("ai", {"ai_usage": "AiUsage"})
