"""Blocks of packed metric points (apps.metrics.packing); partitioned in 0009. The way
back turns every packed point into a row again before the blocks go."""

import django.contrib.postgres.fields
from django.db import migrations, models


def unpack(apps, schema_editor):
    from apps.metrics.packing import blocks_unpack

    blocks_unpack()


class Migration(migrations.Migration):
    dependencies = [
        ("metrics", "0007_points_time_index_brin"),
    ]

    operations = [
        migrations.CreateModel(
            name="PointBlock",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("metric_name", models.CharField(max_length=200)),
                (
                    "metric_type",
                    models.CharField(
                        choices=[
                            ("counter", "Counter"),
                            ("gauge", "Gauge"),
                            ("histogram", "Histogram"),
                            ("timer", "Timer"),
                        ],
                        max_length=16,
                    ),
                ),
                ("tags_hash", models.BigIntegerField()),
                ("hour", models.DateTimeField()),
                ("count", models.IntegerField()),
                (
                    "times",
                    django.contrib.postgres.fields.ArrayField(
                        base_field=models.DateTimeField(), size=None
                    ),
                ),
                (
                    "vals",
                    django.contrib.postgres.fields.ArrayField(
                        base_field=models.FloatField(), size=None
                    ),
                ),
            ],
            options={
                "verbose_name": "packed point block",
                "indexes": [models.Index(fields=["metric_name", "hour"], name="block_name_hour")],
            },
        ),
        migrations.RunPython(migrations.RunPython.noop, unpack),
    ]
