"""The keys that keep a retried item stored once in a partitioned table: EventKey,
partitioned by week (created here empty, its first weeks made), and the one row saying
which week new keys go to."""

from datetime import timedelta

from django.db import migrations, models
from django.utils import timezone

KEYS_TABLE = """
CREATE TABLE ingest_eventkey (
    kind varchar(64) NOT NULL,
    event_id uuid NOT NULL,
    generation date NOT NULL,
    PRIMARY KEY (kind, event_id, generation)
) PARTITION BY RANGE (generation)
"""


def first_weeks(apps, schema_editor):
    today = timezone.now().date()
    monday = today - timedelta(days=today.weekday())
    with schema_editor.connection.cursor() as cursor:
        for start in (monday, monday + timedelta(days=7)):
            cursor.execute(
                f"CREATE TABLE ingest_eventkey_{start:%Y_week_%W} PARTITION OF ingest_eventkey "
                f"FOR VALUES FROM ('{start}') TO ('{start + timedelta(days=7)}')"
            )
            cursor.execute(
                f"COMMENT ON TABLE ingest_eventkey_{start:%Y_week_%W} IS 'psqlextra_auto_partitioned'"
            )
        cursor.execute("INSERT INTO ingest_dedupegeneration (generation) VALUES (%s)", [monday])


class Migration(migrations.Migration):
    dependencies = [
        ("ingest", "0002_outbox_payload_uncompressed"),
    ]

    operations = [
        migrations.CreateModel(
            name="DedupeGeneration",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("generation", models.DateField()),
            ],
        ),
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="EventKey",
                    fields=[
                        (
                            "pk",
                            models.CompositePrimaryKey(
                                "kind",
                                "event_id",
                                "generation",
                                blank=True,
                                editable=False,
                                primary_key=True,
                                serialize=False,
                            ),
                        ),
                        ("kind", models.CharField(max_length=64)),
                        ("event_id", models.UUIDField()),
                        ("generation", models.DateField()),
                    ],
                ),
            ],
            database_operations=[
                migrations.RunSQL(KEYS_TABLE, "DROP TABLE ingest_eventkey"),
            ],
        ),
        migrations.RunPython(first_weeks, migrations.RunPython.noop),
    ]
