from django.apps import AppConfig


class MetricsConfig(AppConfig):
    name = "apps.metrics"
    label = "metrics"

    def ready(self) -> None:
        from apps.ingest.registry import register

        from .models import MetricPoint, MetricRollup, RollupFailure
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
            # Rollups and parked minutes go when the points they summarise go.
            derived_tables=((MetricRollup, "bucket_start"), (RollupFailure, "bucket_start")),
        )
