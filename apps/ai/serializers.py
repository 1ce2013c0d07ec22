"""Request and response shapes of the AI API; the views answer through these."""

from rest_framework import serializers

from apps.core.params import NonEmptyQuery, hours_query
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


class DocumentIn(StrictSerializerMixin, serializers.Serializer):
    document_id = serializers.CharField(max_length=255)
    assistant_id = serializers.UUIDField(required=False, allow_null=True)
    title = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")
    updated_at = UtcDateTimeField(help_text="When the document's content last changed.")


class DocumentsOut(serializers.Serializer):
    created = serializers.IntegerField()
    updated = serializers.IntegerField()


class AssistantQuery(NonEmptyQuery):
    assistant_id = serializers.UUIDField(required=False, help_text="Only this assistant.")


HoursQuery = hours_query()


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
    estimated_cost_usd = serializers.FloatField()
    requests = serializers.IntegerField()
    unpriced_tokens = serializers.IntegerField(
        help_text="Tokens of models no price matches: not in the cost."
    )


class FreshnessOut(serializers.Serializer):
    freshness_category = serializers.ChoiceField(choices=FRESHNESS)
    doc_count = serializers.IntegerField()
    percentage = serializers.FloatField()
