"""Errors partitioned by week, converted in place (apps/ingest/partitions.py, `table_partition`)."""

from django.db import migrations

from apps.ingest.partitions import partitioning_operations


class Migration(migrations.Migration):
    atomic = False  # builds indexes concurrently

    dependencies = [
        ("ingest", "0003_dedupe_keys"),
        ("errors", "0003_issuerelease"),
    ]

    operations = partitioning_operations("errors", {"error": "ErrorLog"})
