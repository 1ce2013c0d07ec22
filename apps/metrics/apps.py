from django.apps import AppConfig


class MetricsConfig(AppConfig):
    name = "apps.metrics"
    label = "metrics"

    def ready(self) -> None:
        from django.core import checks

        from apps.ingest.partitions import time_table_register
        from apps.ingest.registry import register
        from apps.ingest.retention import purge_register, retention_cutoff

        from .models import MetricPoint, PointBlock, RollupFailure
        from .packing import TABLE, blocks_purge
        from .retention import rollup_retention_check
        from .rollups import rollups_purge
        from .schemas import AFTER_INSERT, RETURNING, MetricIn, enrich_metric, trusted_point

        register(
            "metric",
            model=MetricPoint,
            schema=MetricIn,
            aliases=("metrics",),
            enrich=enrich_metric,
            enriched=("tags_hash",),
            after_insert=AFTER_INSERT,
            returning=RETURNING,
            trusted=trusted_point,  # the points other kinds derive (AI usage, requests)
            # Parked minutes go when their points go; rollups have their own retention.
            derived_tables=((RollupFailure, "bucket_start"),),
        )
        checks.register(rollup_retention_check)
        purge_register("metric rollups", rollups_purge)
        # Packed points: partitioned by day and dropped with the points' days.
        time_table_register(
            TABLE,
            PointBlock,
            column="hour",
            cutoff=lambda now: retention_cutoff("metric", now=now),
        )
        purge_register("metric blocks", blocks_purge)
