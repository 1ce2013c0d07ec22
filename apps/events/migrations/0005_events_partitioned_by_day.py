"""Product events and user activity partitioned by day, each converted in place without
blocking writes for more than a moment (apps/ingest/partitions.py, `table_partition`):
the rows already stored become the partition `<table>_legacy`, and event_id stops being
unique in the table (EventKey keeps retries out)."""

import uuid

from django.db import migrations, models

KINDS = {"event": "Event", "user_activity": "UserActivity"}


def partition(apps, schema_editor):
    from apps.ingest.partitions import partitions_maintain, table_partition

    for kind, model in KINDS.items():
        table_partition(model=apps.get_model("events", model), kind=kind)
    partitions_maintain(kinds=list(KINDS))


def unpartition(apps, schema_editor):
    from apps.ingest.partitions import table_unpartition

    for model in KINDS.values():
        table_unpartition(model=apps.get_model("events", model))


class Migration(migrations.Migration):
    atomic = False  # builds indexes concurrently

    dependencies = [
        ("ingest", "0003_dedupe_keys"),
        ("events", "0004_received_brin"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name=model.lower(),
                    name="event_id",
                    field=models.UUIDField(default=uuid.uuid4, editable=False),
                )
                for model in KINDS.values()
            ],
        ),
        migrations.RunPython(partition, unpartition),
    ]
