"""The blocks of packed minute rollups hold packed hour rollups too
(apps.metrics.rollup_blocks): the table gets a resolution, and its hour and minutes
become a block start and offsets. Catalog changes only, and the unique index rebuilt
over the blocks (a few hundred thousand rows at 100M points). The way back turns every
packed hour into a row again before the resolution goes."""

from django.db import migrations, models

# The hours as this migration leaves the blocks: each hour's sketch sliced from its
# block's arrays.
UNPACK_HOURS = """
WITH moved AS (DELETE FROM metrics_rollupblock WHERE resolution = 'h' RETURNING *)
INSERT INTO metrics_metricrollup (resolution, metric_name, tags_hash, bucket_start, count,
                                  sum, min, max, sketch_keys, sketch_counts)
SELECT 'h', b.metric_name, b.tags_hash, b.block_start + m.n * interval '1 hour', m.count,
       m.sum, m.min, m.max, b.keys[coalesce(b.ends[m.i - 1], 0) + 1 : m.e],
       b.key_counts[coalesce(b.ends[m.i - 1], 0) + 1 : m.e]
FROM moved b
CROSS JOIN LATERAL unnest(b.offsets, b.counts, b.sums, b.mins, b.maxs, b.ends)
    WITH ORDINALITY AS m(n, count, sum, min, max, e, i)
"""


class Migration(migrations.Migration):
    dependencies = [
        ("metrics", "0010_minute_blocks"),
    ]

    operations = [
        migrations.RemoveConstraint(model_name="minuteblock", name="minute_block_unique"),
        migrations.RenameModel(old_name="MinuteBlock", new_name="RollupBlock"),
        migrations.RenameField(model_name="rollupblock", old_name="hour", new_name="block_start"),
        migrations.RenameField(model_name="rollupblock", old_name="minutes", new_name="offsets"),
        migrations.AddField(
            model_name="rollupblock",
            name="resolution",
            field=models.CharField(
                choices=[("m", "minute"), ("h", "hour"), ("d", "day")],
                default="m",
                max_length=1,
            ),
            preserve_default=False,
        ),
        migrations.AlterModelOptions(
            name="rollupblock",
            options={"verbose_name": "packed rollups", "verbose_name_plural": "packed rollups"},
        ),
        migrations.AddConstraint(
            model_name="rollupblock",
            constraint=models.UniqueConstraint(
                fields=("metric_name", "resolution", "block_start", "tags_hash"),
                name="rollup_block_unique",
            ),
        ),
        migrations.RunSQL(migrations.RunSQL.noop, UNPACK_HOURS),
    ]
