"""Minute rollups packed an hour a row (apps.metrics.minute_blocks). The way back turns
every packed minute into a row again before the blocks go."""

import django.contrib.postgres.fields
from django.db import migrations, models


def unpack(apps, schema_editor):
    from apps.metrics.minute_blocks import minutes_unpack_all

    with schema_editor.connection.cursor() as cursor:
        minutes_unpack_all(cursor)


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
        migrations.RunPython(migrations.RunPython.noop, unpack),
    ]
