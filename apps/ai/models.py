from django.contrib.postgres.indexes import BrinIndex
from django.db import models

from apps.ingest.models import PartitionedRecord


class AiUsage(PartitionedRecord):
    """One request to an AI model: what it cost, how fast it was, whether it worked."""

    partition_period = "week"  # written seldom: a week a partition

    feature = models.CharField(max_length=100)
    model = models.CharField(max_length=200, blank=True, default="")
    assistant_id = models.UUIDField(null=True, blank=True)
    assistant_name = models.CharField(max_length=255, blank=True, default="")
    user_id = models.CharField(max_length=255, blank=True, default="")
    conversation_id = models.CharField(max_length=255, blank=True, default="")
    success = models.BooleanField(default=True)
    error = models.TextField(blank=True, default="")
    response_time_ms = models.FloatField(null=True, blank=True)
    ttft_ms = models.FloatField(null=True, blank=True)
    generation_ms = models.FloatField(null=True, blank=True)
    tokens_in = models.PositiveIntegerField(default=0)
    tokens_out = models.PositiveIntegerField(default=0)
    cached_tokens = models.PositiveIntegerField(default=0)
    cache_hit = models.BooleanField(null=True, blank=True)
    # What the provider billed (USD), when the client or its span said: shown beside the
    # price table's estimate, never instead of it. Nullable: adding it rewrites no row.
    reported_cost_usd = models.FloatField(null=True, blank=True)
    # The price table's cost of this request as it stood when the request was received
    # (null: no price matched): what the ai.cost_usd metric adds up. Nullable, as above.
    estimated_cost_usd = models.FloatField(null=True, blank=True)
    steps = models.JSONField(default=list, blank=True)
    question = models.TextField(blank=True, default="")
    # The question normalized (case, whitespace, punctuation): what trending groups by.
    question_key = models.CharField(max_length=500, blank=True, default="")
    metadata = models.JSONField(default=dict, blank=True)

    class Meta(PartitionedRecord.Meta):
        verbose_name = "AI usage"
        verbose_name_plural = "AI usage"
        indexes = [
            models.Index(fields=["timestamp"], name="ai_usage_ts"),
            models.Index(fields=["assistant_id", "timestamp"], name="ai_usage_assistant_ts"),
            models.Index(fields=["feature", "timestamp"], name="ai_usage_feature_ts"),
            BrinIndex(fields=["received_at"], name="ai_usage_received"),  # late arrivals
        ]


class AiUsageHour(models.Model):
    """AI usage added up per hour, assistant, model and feature, in the statement that
    stores the usage: costs and per-feature figures read these, not millions of rows."""

    hour = models.DateTimeField()
    assistant_id = models.UUIDField(null=True)
    assistant_name = models.CharField(max_length=255)
    model = models.CharField(max_length=200)
    feature = models.CharField(max_length=100)
    requests = models.BigIntegerField()
    successes = models.BigIntegerField()
    timed = models.BigIntegerField()  # requests with a response time
    response_ms_sum = models.FloatField()
    tokens_in = models.BigIntegerField()
    tokens_out = models.BigIntegerField()
    cached_tokens = models.BigIntegerField()
    cache_known = models.BigIntegerField()  # requests that said whether the cache hit
    cache_hits = models.BigIntegerField()
    # Of the requests that reported a provider cost: their number and the cost's sum.
    # db_default: added to a big table without rewriting it.
    reported = models.BigIntegerField(db_default=0)
    reported_cost_usd = models.FloatField(db_default=0.0)

    class Meta:
        verbose_name = "AI usage hour"
        constraints = [
            models.UniqueConstraint(
                fields=["hour", "assistant_id", "assistant_name", "model", "feature"],
                name="ai_usage_hour_key",
                nulls_distinct=False,
            )
        ]

    def __str__(self) -> str:
        return f"{self.feature} {self.model} {self.hour:%Y-%m-%d %H}:00"


class AiQuestion(models.Model):
    """How often a question (normalized) was asked of an assistant, kept up to date in
    the statement that stores the usage: what trending and topic diversity read."""

    assistant_id = models.UUIDField(null=True)
    question_key = models.CharField(max_length=500)
    frequency = models.BigIntegerField()
    last_asked = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["assistant_id", "question_key"],
                name="ai_question_key",
                nulls_distinct=False,
            )
        ]
        indexes = [models.Index(fields=["-frequency"], name="ai_question_frequency")]

    def __str__(self) -> str:
        return self.question_key


class AiQuestionVariant(models.Model):
    """One way of asking a question, as asked: its most frequent wording is the
    question's canonical text, and their number its variation count."""

    assistant_id = models.UUIDField(null=True)
    question_key = models.CharField(max_length=500)
    text_hash = models.UUIDField()  # md5 of the text: the text itself is too long to index
    text = models.TextField()
    asked = models.BigIntegerField()
    last_asked = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["assistant_id", "question_key", "text_hash"],
                name="ai_question_variant_key",
                nulls_distinct=False,
            )
        ]

    def __str__(self) -> str:
        return self.text[:80]


class ModelPrice(models.Model):
    """USD per million tokens of a model (exact name or glob, e.g. `gpt-4o*`) from
    `valid_from` (or from the beginning) until the next price of the same model."""

    model = models.CharField(max_length=200)
    input_per_million = models.DecimalField(max_digits=12, decimal_places=6)
    output_per_million = models.DecimalField(max_digits=12, decimal_places=6)
    cached_input_per_million = models.DecimalField(
        max_digits=12, decimal_places=6, null=True, blank=True
    )
    valid_from = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.CharField(max_length=255, blank=True, default="")

    class Meta:
        ordering = ["model", "valid_from"]
        constraints = [
            models.UniqueConstraint(
                fields=["model", "valid_from"], name="ai_price_once", nulls_distinct=False
            )
        ]

    def __str__(self) -> str:
        since = self.valid_from.date().isoformat() if self.valid_from else "the beginning"
        return f"{self.model} from {since}"


class KnowledgeDocument(models.Model):
    """A document an assistant answers from; only its age matters here."""

    document_id = models.CharField(max_length=255, unique=True)
    assistant_id = models.UUIDField(null=True, blank=True)
    title = models.CharField(max_length=500, blank=True, default="")
    updated_at = models.DateTimeField()
    received_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [models.Index(fields=["assistant_id"], name="ai_doc_assistant")]

    def __str__(self) -> str:
        return self.title or self.document_id
