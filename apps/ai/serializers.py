"""Request and response shapes of the AI API; the views answer through these."""

from rest_framework import serializers

from apps.core.booleans import BooleansAreNotValuesMixin
from apps.core.params import NonEmptyQuery, bounded_int, hours_query
from apps.core.serializers import StrictSerializerMixin, UtcDateTimeField

from .models import ModelPrice
from .selectors import FRESHNESS

MONEY = {"max_digits": 12, "decimal_places": 6, "min_value": 0, "coerce_to_string": False}


class PriceSerializer(StrictSerializerMixin, serializers.ModelSerializer):
    model = serializers.CharField(
        max_length=200, help_text="An exact model name, or a glob: `gpt-4o*`, `claude-?-*`."
    )
    input_per_million = serializers.DecimalField(**MONEY, help_text="USD per million tokens.")
    output_per_million = serializers.DecimalField(**MONEY)
    cached_input_per_million = serializers.DecimalField(
        **MONEY, required=False, allow_null=True, help_text="Without it, cached input costs input."
    )
    valid_from = UtcDateTimeField(
        required=False,
        allow_null=True,
        help_text="From when it applies; without it, from the beginning. A later price of "
        "the same model takes over from its own date.",
    )

    class Meta:
        model = ModelPrice
        fields = [
            "id",
            "model",
            "input_per_million",
            "output_per_million",
            "cached_input_per_million",
            "valid_from",
            "created_at",
            "created_by",
        ]
        read_only_fields = ["created_at", "created_by"]
        # The database's unique constraint decides (a 409), not a racy pre-check that
        # would also make valid_from required.
        validators: list = []


class DocumentIn(BooleansAreNotValuesMixin, StrictSerializerMixin, serializers.Serializer):
    document_id = serializers.CharField(max_length=255)
    assistant_id = serializers.UUIDField(required=False, allow_null=True)
    title = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")
    updated_at = UtcDateTimeField(help_text="When the document's content last changed.")


class DocumentsOut(serializers.Serializer):
    created = serializers.IntegerField()
    updated = serializers.IntegerField()


class AssistantQuery(NonEmptyQuery):
    assistant_id = serializers.UUIDField(required=False, help_text="Only this assistant.")


class TrendingQuery(AssistantQuery):
    limit = bounded_int(1, 50, 10, "Topics to return")


class AdvancedQuery(AssistantQuery):
    ttft_hours = bounded_int(1, 168, 24, "Time-to-first-token window in hours")
    step_days = bounded_int(1, 90, 7, "Pipeline step window in days")
    cache_hours = bounded_int(1, 168, 24, "Cache window in hours")
    cost_hours = bounded_int(1, 168, 24, "Cost window in hours")
    trending_limit = bounded_int(1, 50, 10, "Trending topics to return")


HoursQuery = hours_query()
AssistantHoursQuery = hours_query(
    assistant_id=serializers.UUIDField(required=False, help_text="Only this assistant.")
)


class TtftOut(serializers.Serializer):
    p50 = serializers.FloatField()
    p95 = serializers.FloatField()
    p99 = serializers.FloatField()
    period_hours = serializers.IntegerField()


class AssistantCostOut(serializers.Serializer):
    assistant_id = serializers.UUIDField(allow_null=True)
    assistant_name = serializers.CharField()
    total_tokens = serializers.IntegerField()
    input_tokens = serializers.IntegerField()
    output_tokens = serializers.IntegerField()
    cached_tokens = serializers.IntegerField(help_text="Of input_tokens.")
    estimated_cost_usd = serializers.FloatField(help_text="From the price table.")
    reported_cost_usd = serializers.FloatField(
        help_text="What the providers reported (`reported_cost_usd` of the usage, "
        "`gen_ai.usage.cost` of a span), summed over reported_requests; 0.0 when none did."
    )
    reported_requests = serializers.IntegerField(
        help_text="Of requests, those that reported a provider cost."
    )
    requests = serializers.IntegerField()
    unpriced_tokens = serializers.IntegerField(
        help_text="Tokens of models no price matches: not in the cost."
    )


class FreshnessOut(serializers.Serializer):
    freshness_category = serializers.ChoiceField(choices=FRESHNESS)
    doc_count = serializers.IntegerField()
    percentage = serializers.FloatField()


class TrendingTopicOut(serializers.Serializer):
    topic = serializers.CharField(help_text="The question normalized: what groups its wordings.")
    canonical_text = serializers.CharField(help_text="Its most asked wording.")
    frequency = serializers.IntegerField()
    variation_count = serializers.IntegerField(help_text="How many different wordings.")
    last_asked = UtcDateTimeField()


class TokensOut(serializers.Serializer):
    input = serializers.FloatField()
    output = serializers.FloatField()


class StepOut(serializers.Serializer):
    step_name = serializers.CharField()
    avg_duration = serializers.FloatField(allow_null=True, help_text="ms; null: never timed.")
    p95_duration = serializers.FloatField(allow_null=True)
    step_count = serializers.IntegerField()
    avg_tokens = TokensOut()


class CacheMetricsOut(serializers.Serializer):
    hit_rate = serializers.FloatField(help_text="Percent of the requests that said.")
    total_requests = serializers.IntegerField(help_text="Requests that said hit or miss.")
    cache_hits = serializers.IntegerField()
    cache_misses = serializers.IntegerField()
    period_hours = serializers.IntegerField()


class DiversityOut(serializers.Serializer):
    diversity_score = serializers.FloatField(help_text="1 - the sum of squared topic shares.")
    total_topics = serializers.IntegerField()
    dominant_topic_share = serializers.FloatField(help_text="The largest topic's share, 0-1.")


class AdvancedOut(serializers.Serializer):
    ttft = TtftOut()
    step_breakdown = StepOut(many=True)
    cache_metrics = CacheMetricsOut()
    trending_topics = TrendingTopicOut(many=True)
    topic_diversity = DiversityOut()
    costs = AssistantCostOut(many=True)
    freshness = FreshnessOut(many=True)
    generated_at = UtcDateTimeField()


class TokensPerSecondOut(serializers.Serializer):
    avg = serializers.FloatField()
    p50 = serializers.FloatField()
    p95 = serializers.FloatField()


class TimeBetweenTokensOut(serializers.Serializer):
    avg = serializers.FloatField(allow_null=True, help_text="ms; null: one-token answers only.")
    p50 = serializers.FloatField(allow_null=True)
    p95 = serializers.FloatField(allow_null=True)
    p99 = serializers.FloatField(allow_null=True)


class GenerationSpeedOut(serializers.Serializer):
    model = serializers.CharField()
    requests = serializers.IntegerField(help_text="Requests that sent generation_ms.")
    tokens_per_second = TokensPerSecondOut(help_text="Output tokens over generation_ms.")
    time_between_tokens_ms = TimeBetweenTokensOut(help_text="generation_ms / (tokens_out - 1).")


class FeatureOut(serializers.Serializer):
    feature = serializers.CharField()
    requests = serializers.IntegerField()
    success_rate = serializers.FloatField(help_text="Percent.")
    avg_response_time_ms = serializers.FloatField(allow_null=True)
    cache_hit_rate = serializers.FloatField(help_text="Percent of the requests that said.")
