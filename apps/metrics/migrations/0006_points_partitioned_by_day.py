"""Metric points partitioned by day, converted in place without blocking writes for more
than a moment (apps/ingest/partitions.py, `table_partition`): the rows already stored
become the partition `metrics_metricevent_legacy`, and event_id stops being unique in
the table (EventKey keeps retries out)."""

import uuid

from django.db import migrations, models


def partition(apps, schema_editor):
    from apps.ingest.partitions import partitions_maintain, table_partition

    table_partition(model=apps.get_model("metrics", "MetricPoint"), kind="metric")
    partitions_maintain(kinds=["metric"])


def unpartition(apps, schema_editor):
    from apps.ingest.partitions import table_unpartition

    table_unpartition(model=apps.get_model("metrics", "MetricPoint"))


class Migration(migrations.Migration):
    atomic = False  # builds an index concurrently

    dependencies = [
        ("ingest", "0003_dedupe_keys"),
        ("metrics", "0005_ai_metrics_from_ai_usage"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="metricpoint",
                    name="event_id",
                    field=models.UUIDField(default=uuid.uuid4, editable=False),
                ),
            ],
        ),
        migrations.RunPython(partition, unpartition),
    ]
