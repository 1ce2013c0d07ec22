from django.apps import AppConfig


class AiConfig(AppConfig):
    name = "apps.ai"
    label = "ai"
    verbose_name = "AI usage"

    def ready(self) -> None:
        from apps.ingest.registry import register

        from .derive import usage_metrics
        from .models import AiQuestion, AiQuestionVariant, AiUsage, AiUsageHour
        from .schemas import AFTER_INSERT, RETURNING, AiUsageIn, enrich_usage

        register(
            "ai_usage",
            model=AiUsage,
            schema=AiUsageIn,
            aliases=("log-ai-usage",),
            enrich=enrich_usage,
            enriched=("question_key",),
            after_insert=AFTER_INSERT,
            returning=RETURNING,
            derive=usage_metrics,
            # The points come from the rows alone: stored before the usage, whose hourly
            # sums and question counts then lock their rows only until the commit.
            derive_first=True,
            # A question is forgotten once it was last asked before the retention.
            derived_tables=(
                (AiUsageHour, "hour"),
                (AiQuestion, "last_asked"),
                (AiQuestionVariant, "last_asked"),
            ),
        )
