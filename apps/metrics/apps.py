from django.apps import AppConfig


class MetricsConfig(AppConfig):
    name = "apps.metrics"
    label = "metrics"

    def ready(self) -> None:
        from apps.ingest.registry import register

        from .models import MetricEvent
        from .schemas import AFTER_INSERT, RETURNING, MetricIn, enrich_metric

        register(
            "metric",
            model=MetricEvent,
            schema=MetricIn,
            enrich=enrich_metric,
            enriched=("tags_hash",),
            after_insert=AFTER_INSERT,
            returning=RETURNING,
        )
