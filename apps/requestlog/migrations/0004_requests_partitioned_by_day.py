"""Request logs partitioned by day, converted in place (apps/ingest/partitions.py, `table_partition`)."""

from django.db import migrations

from apps.ingest.partitions import partitioning_operations


class Migration(migrations.Migration):
    atomic = False  # builds indexes concurrently

    dependencies = [
        ("ingest", "0003_dedupe_keys"),
        ("requestlog", "0003_received_brin"),
    ]

    operations = partitioning_operations("requestlog", {"request_log": "APIRequestLog"})
