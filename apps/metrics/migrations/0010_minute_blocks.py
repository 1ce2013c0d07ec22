"""Minute rollups packed an hour a row (apps.metrics.rollup_blocks). The way back turns
every packed minute into a row again before the blocks go."""

import django.contrib.postgres.fields
from django.db import migrations, models


# The minutes as this migration left the blocks (0011 renames their columns): each
# minute's sketch sliced from its block's arrays.
UNPACK = """
INSERT INTO metrics_metricrollup (resolution, metric_name, tags_hash, bucket_start, count,
                                  sum, min, max, sketch_keys, sketch_counts)
SELECT 'm', b.metric_name, b.tags_hash, b.hour + m.minute * interval '1 minute', m.count,
       m.sum, m.min, m.max, b.keys[coalesce(b.ends[m.i - 1], 0) + 1 : m.e],
       b.key_counts[coalesce(b.ends[m.i - 1], 0) + 1 : m.e]
FROM metrics_minuteblock b
CROSS JOIN LATERAL unnest(b.minutes, b.counts, b.sums, b.mins, b.maxs, b.ends)
    WITH ORDINALITY AS m(minute, count, sum, min, max, e, i)
"""


class Migration(migrations.Migration):
    dependencies = [
        ("metrics", "0009_point_blocks_partitioned_by_day"),
    ]

    operations = [
        migrations.CreateModel(
            name="MinuteBlock",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("metric_name", models.CharField(max_length=200)),
                ("tags_hash", models.BigIntegerField()),
                ("hour", models.DateTimeField()),
                (
                    "minutes",
                    django.contrib.postgres.fields.ArrayField(
                        base_field=models.SmallIntegerField(), size=None
                    ),
                ),
                (
                    "counts",
                    django.contrib.postgres.fields.ArrayField(
                        base_field=models.BigIntegerField(), size=None
                    ),
                ),
                (
                    "sums",
                    django.contrib.postgres.fields.ArrayField(
                        base_field=models.FloatField(), size=None
                    ),
                ),
                (
                    "mins",
                    django.contrib.postgres.fields.ArrayField(
                        base_field=models.FloatField(), size=None
                    ),
                ),
                (
                    "maxs",
                    django.contrib.postgres.fields.ArrayField(
                        base_field=models.FloatField(), size=None
                    ),
                ),
                (
                    "ends",
                    django.contrib.postgres.fields.ArrayField(
                        base_field=models.IntegerField(), size=None
                    ),
                ),
                (
                    "keys",
                    django.contrib.postgres.fields.ArrayField(
                        base_field=models.IntegerField(), size=None
                    ),
                ),
                (
                    "key_counts",
                    django.contrib.postgres.fields.ArrayField(
                        base_field=models.BigIntegerField(), size=None
                    ),
                ),
            ],
            options={
                "verbose_name": "packed minute rollups",
                "constraints": [
                    models.UniqueConstraint(
                        fields=("metric_name", "hour", "tags_hash"), name="minute_block_unique"
                    )
                ],
            },
        ),
        migrations.RunSQL(migrations.RunSQL.noop, UNPACK),
    ]
