from django.apps import AppConfig


class AiConfig(AppConfig):
    name = "apps.ai"
    label = "ai"
    verbose_name = "AI usage"

    def ready(self) -> None:
        from apps.ingest.registry import register
        from apps.metrics.sources import after_insert

        from . import metric_sources
        from .models import AiQuestion, AiQuestionVariant, AiUsage, AiUsageHour
        from .schemas import AFTER_INSERT, RETURNING, AiUsageIn, enrich_usage

        metric_sources.register()

        register(
            "ai_usage",
            model=AiUsage,
            schema=AiUsageIn,
            aliases=("log-ai-usage",),
            enrich=enrich_usage,
            enriched=("question_key", "estimated_cost_usd"),
            # Its hourly sums, question counts, and the series and stale minutes of its
            # ai.* metrics.
            after_insert=AFTER_INSERT + after_insert(AiUsage._meta.db_table),
            returning=RETURNING,
            # A question is forgotten once it was last asked before the retention.
            derived_tables=(
                (AiUsageHour, "hour"),
                (AiQuestion, "last_asked"),
                (AiQuestionVariant, "last_asked"),
            ),
        )
