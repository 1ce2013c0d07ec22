"""Metric values within +/-1e18 (a CHECK constraint), and parked rollup failures.

Points already outside the range are deleted, not clamped: no real measurement
is beyond 1e18 in any unit, so they are client bugs, and a clamped value would
be a number nobody sent. Their minutes are marked dirty and the rollups of
those minutes, hours and days deleted, so the roller rebuilds them from the
points that remain (and a bucket left with no points disappears).

Not atomic, to hold the table's exclusive lock only for an instant: the
constraint is added NOT VALID first (new rows are checked from then on, so
nothing out of range can slip in behind the cleanup), then old rows are
cleaned up in one transaction, then VALIDATE scans the table under a lock
that lets inserts go on.
"""

from django.db import migrations, models

BOUND = 1e18  # frozen here: this migration must not change with apps.ingest.fields

ADD_NOT_VALID = (
    "ALTER TABLE metrics_metricevent ADD CONSTRAINT metric_value_range "
    f'CHECK ("value" >= -{BOUND:.0e} AND "value" <= {BOUND:.0e}) NOT VALID'
)
DROP = "ALTER TABLE metrics_metricevent DROP CONSTRAINT IF EXISTS metric_value_range"
VALIDATE = "ALTER TABLE metrics_metricevent VALIDATE CONSTRAINT metric_value_range"

# NOT (a AND b) also catches NaN, which compares above every number in PostgreSQL.
CLEANUP = """
WITH bad AS (
    DELETE FROM metrics_metricevent
    WHERE NOT ("value" >= %(low)s AND "value" <= %(high)s)
    RETURNING metric_name, date_trunc('minute', "timestamp", 'UTC') AS m
),
minutes AS (SELECT DISTINCT metric_name, m FROM bad),
targets AS (
    SELECT metric_name, 'm' AS res, m AS b FROM minutes
    UNION SELECT metric_name, 'h', date_trunc('hour', m, 'UTC') FROM minutes
    UNION SELECT metric_name, 'd', date_trunc('day', m, 'UTC') FROM minutes
),
stale AS (
    DELETE FROM metrics_metricrollup r USING targets t
    WHERE r.metric_name = t.metric_name AND r.resolution = t.res AND r.bucket_start = t.b
)
INSERT INTO metrics_dirtyminute (metric_name, bucket_start)
SELECT metric_name, m FROM minutes
"""


def delete_out_of_range(apps, schema_editor) -> None:
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(CLEANUP, {"low": -BOUND, "high": BOUND})
        if cursor.rowcount:
            print(f"\n  metrics: deleted points outside +/-{BOUND:g} in {cursor.rowcount} minute(s)")


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("metrics", "0001_initial"),
    ]

    operations = [
        migrations.CreateModel(
            name="RollupFailure",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("metric_name", models.CharField(max_length=200)),
                ("bucket_start", models.DateTimeField()),
                ("error", models.TextField()),
                ("failed_at", models.DateTimeField()),
                ("attempts", models.PositiveIntegerField(default=1)),
            ],
            options={
                "constraints": [
                    models.UniqueConstraint(
                        fields=("metric_name", "bucket_start"), name="failure_unique"
                    )
                ],
            },
        ),
        migrations.SeparateDatabaseAndState(
            database_operations=[migrations.RunSQL(ADD_NOT_VALID, reverse_sql=DROP)],
            state_operations=[
                migrations.AddConstraint(
                    model_name="metricevent",
                    constraint=models.CheckConstraint(
                        condition=models.Q(("value__gte", -BOUND), ("value__lte", BOUND)),
                        name="metric_value_range",
                    ),
                )
            ],
        ),
        migrations.RunPython(delete_out_of_range, migrations.RunPython.noop, atomic=True),
        migrations.RunSQL(VALIDATE, reverse_sql=migrations.RunSQL.noop),
    ]
