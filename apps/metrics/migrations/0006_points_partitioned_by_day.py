"""Metric points partitioned by day, converted in place without blocking writes for more
than a moment (apps/ingest/partitions.py, `table_partition`): the rows already stored
become the partition `metrics_metricevent_legacy`, and event_id stops being unique in
the table (EventKey keeps retries out)."""

from django.db import migrations

from apps.ingest.partitions import partitioning_operations


class Migration(migrations.Migration):
    atomic = False  # builds an index concurrently

    dependencies = [
        ("ingest", "0003_dedupe_keys"),
        ("metrics", "0005_ai_metrics_from_ai_usage"),
    ]

    operations = partitioning_operations("metrics", {"metric": "MetricPoint"})
