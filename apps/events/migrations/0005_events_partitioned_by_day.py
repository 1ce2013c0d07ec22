"""Product events and user activity partitioned by day, each converted in place without
blocking writes for more than a moment (apps/ingest/partitions.py, `table_partition`):
the rows already stored become the partition `<table>_legacy`, and event_id stops being
unique in the table (EventKey keeps retries out)."""

from django.db import migrations

from apps.ingest.partitions import partitioning_operations


class Migration(migrations.Migration):
    atomic = False  # builds indexes concurrently

    dependencies = [
        ("ingest", "0003_dedupe_keys"),
        ("events", "0004_received_brin"),
    ]

    operations = partitioning_operations("events", {"event": "Event", "user_activity": "UserActivity"})
