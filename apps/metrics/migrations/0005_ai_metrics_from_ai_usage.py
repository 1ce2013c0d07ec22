"""The ai.* metrics are read from the AI usage rows now (apps.metrics.sources): the
points once derived from them go, and so do the rollups, series and marks of those
names, whose minutes are marked to be rolled again from the usage rows."""

from django.db import migrations

NAMES = [
    "ai.response_time_ms",
    "ai.ttft_ms",
    "ai.success_rate",
    "ai.step_duration_ms",
    "ai.step_tokens_in",
    "ai.step_tokens_out",
    "ai.tokens_per_second",
    "ai.time_between_tokens_ms",
    "ai.cost_usd",
]
BATCH = 50_000


def rebuild(apps, schema_editor):
    from apps.metrics.sources import points_relation

    with schema_editor.connection.cursor() as cursor:
        while True:  # in batches, each its own transaction: no long lock on the points
            cursor.execute(
                "DELETE FROM metrics_metricevent WHERE id IN (SELECT id FROM "
                "metrics_metricevent WHERE metric_name = ANY(%s) AND source = 'ai_usage' "
                "LIMIT %s)",
                [NAMES, BATCH],
            )
            if cursor.rowcount < BATCH:
                break
        for table in (
            "metrics_metricrollup",
            "metrics_metricseries",
            "metrics_metrictagkey",
            "metrics_dirtyminute",
            "metrics_rollupfailure",
        ):
            cursor.execute(f"DELETE FROM {table} WHERE metric_name = ANY(%s)", [NAMES])  # noqa: S608
        relation = points_relation(NAMES, tags=True)
        cursor.execute(
            "INSERT INTO metrics_metricseries (metric_name, tags_hash, tags, metric_type, unit) "
            "SELECT DISTINCT ON (metric_name, tags_hash) metric_name, tags_hash, tags, "
            "metric_type, CASE WHEN metric_type = 'timer' THEN 'ms' ELSE '' END "
            f"FROM {relation} p WHERE metric_name = ANY(%s) "  # noqa: S608
            "ON CONFLICT (metric_name, tags_hash) DO NOTHING",
            [NAMES],
        )
        cursor.execute(
            "INSERT INTO metrics_metrictagkey (metric_name, tag_key) "
            "SELECT DISTINCT metric_name, jsonb_object_keys(tags) FROM metrics_metricseries "
            "WHERE metric_name = ANY(%s) ON CONFLICT (metric_name, tag_key) DO NOTHING",
            [NAMES],
        )
        cursor.execute(
            "INSERT INTO metrics_dirtyminute (metric_name, bucket_start) "
            "SELECT DISTINCT metric_name, date_trunc('minute', \"timestamp\") "
            f"FROM {points_relation(NAMES)} p WHERE metric_name = ANY(%s)",  # noqa: S608
            [NAMES],
        )


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("metrics", "0004_metric_tag_keys"),
        ("ai", "0005_estimated_cost"),
    ]

    operations = [migrations.RunPython(rebuild, migrations.RunPython.noop)]
