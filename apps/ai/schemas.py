"""What a client sends about its AI usage, checked item by item by the pipeline."""

from datetime import datetime
from functools import lru_cache
from typing import Annotated
from uuid import UUID
from weakref import WeakKeyDictionary

from pydantic import AfterValidator, ConfigDict, Field, StringConstraints, model_validator

from apps.ingest.fields import (
    MAX_ABS_NUMBER,
    ItemSchema,
    LongText,
    Milliseconds,
    NotBool,
    NullMeansAbsent,
    PositiveInt,
    Scrubbed,
    Secretless,
    Text,
)
from apps.ingest.privacy import scrub_text

from .models import AiQuestion, AiQuestionVariant, AiUsageHour
from .prices import PriceBook
from .questions import question_key

MAX_STEPS = 50
# USD: finite, not negative, within the bound of every number a client sends.
Usd = Annotated[float, NotBool, Field(ge=0, le=MAX_ABS_NUMBER, allow_inf_nan=False)]


@lru_cache(maxsize=8192)
def _scrubbed_name(text: str, max_length: int) -> str:
    return scrub_text(text)[:max_length]


def Name(max_length: int):  # noqa: N802 - reads like a type, as Scrubbed does
    """Scrubbed (apps.ingest.fields) for the names a client repeats on every item (feature,
    model, assistant, step): each distinct name is scrubbed once per process."""
    return Annotated[
        str,
        StringConstraints(max_length=max_length),
        AfterValidator(lambda text: _scrubbed_name(text, max_length)),
    ]


class StepIn(NullMeansAbsent):
    model_config = ConfigDict(extra="forbid")

    # Free text (a step named after the URL it called, `call?sig=...`): scrubbed.
    name: Name(100) = Field(min_length=1)
    duration_ms: Milliseconds | None = None
    tokens_in: PositiveInt = 0
    tokens_out: PositiveInt = 0


class AiUsageIn(ItemSchema):
    # Names a client makes up are free text: secrets in them are redacted before the row
    # (and the hourly sums grouped by them) exist.
    feature: Name(100) = Field(
        min_length=1, description="grammar, quiz, voice, scenario, or any name of yours."
    )
    model: Name(200) = ""
    assistant_id: UUID | None = None
    assistant_name: Name(255) = ""
    user_id: Text(255) = ""
    conversation_id: Text(255) = ""
    success: bool = True
    error: LongText = ""
    response_time_ms: Milliseconds | None = None
    ttft_ms: Milliseconds | None = Field(default=None, description="Time to the first token.")
    generation_ms: Milliseconds | None = Field(
        default=None, description="From the first token to the last: gives tokens per second."
    )
    tokens_in: PositiveInt = Field(default=0, description="Prompt tokens, cached ones included.")
    tokens_out: PositiveInt = 0
    cached_tokens: PositiveInt = Field(default=0, description="Of tokens_in, read from a cache.")
    cache_hit: bool | None = None
    reported_cost_usd: Usd | None = Field(
        default=None,
        description="What the provider billed for this request (USD), if it said: the cost "
        "reads answer it beside the price table's estimate.",
    )
    steps: list[StepIn] = Field(default_factory=list, max_length=MAX_STEPS)
    question: Scrubbed(2000) = Field(default="", description="The user's question, for trending.")
    metadata: Secretless = Field(default_factory=dict)

    @model_validator(mode="after")
    def _cached_within_input(self):
        if self.cached_tokens > self.tokens_in:
            raise ValueError("cached_tokens cannot exceed tokens_in (cached tokens are part of it)")
        return self


def enrich_usage(row: dict, request) -> None:
    row["question_key"] = question_key(row["question"]) if row["question"] else ""
    prices, at = _prices(request), row["timestamp"]
    if not prices.prices:
        row["estimated_cost_usd"] = None
        return
    at = datetime.fromisoformat(at) if isinstance(at, str) else at  # JSON rows hold text
    row["estimated_cost_usd"] = prices.cost(
        row["model"], at, row["tokens_in"], row["tokens_out"], row["cached_tokens"]
    )


_books: "WeakKeyDictionary[object, PriceBook]" = WeakKeyDictionary()


def _prices(request) -> PriceBook:
    """The prices as they stand, read once a request (one query for a batch)."""
    if request is None:
        return PriceBook()
    book = _books.get(request)
    if book is None:
        book = _books[request] = PriceBook()
    return book


# Run in the statement that stores the usage (only rows really inserted: a retried
# item is a conflict and adds nothing), so the sums always match the rows. Each
# upsert takes its row locks in key order, so concurrent batches do not deadlock.
_HOUR = AiUsageHour._meta.db_table
_QUESTION = AiQuestion._meta.db_table
_VARIANT = AiQuestionVariant._meta.db_table
AFTER_INSERT = (
    f"""INSERT INTO {_HOUR} AS h (hour, assistant_id, assistant_name, model, feature, requests,
        successes, timed, response_ms_sum, tokens_in, tokens_out, cached_tokens, cache_known,
        cache_hits, reported, reported_cost_usd)
    SELECT date_trunc('hour', "timestamp"), assistant_id, assistant_name, model, feature,
        count(*), count(*) FILTER (WHERE success), count(response_time_ms),
        coalesce(sum(response_time_ms), 0), sum(tokens_in), sum(tokens_out),
        sum(cached_tokens), count(cache_hit), count(*) FILTER (WHERE cache_hit),
        count(reported_cost_usd), coalesce(sum(reported_cost_usd), 0)
    FROM inserted
    GROUP BY 1, 2, 3, 4, 5
    ORDER BY 1, 2, 3, 4, 5
    ON CONFLICT (hour, assistant_id, assistant_name, model, feature) DO UPDATE SET
        requests = h.requests + EXCLUDED.requests,
        successes = h.successes + EXCLUDED.successes,
        timed = h.timed + EXCLUDED.timed,
        response_ms_sum = h.response_ms_sum + EXCLUDED.response_ms_sum,
        tokens_in = h.tokens_in + EXCLUDED.tokens_in,
        tokens_out = h.tokens_out + EXCLUDED.tokens_out,
        cached_tokens = h.cached_tokens + EXCLUDED.cached_tokens,
        cache_known = h.cache_known + EXCLUDED.cache_known,
        cache_hits = h.cache_hits + EXCLUDED.cache_hits,
        reported = h.reported + EXCLUDED.reported,
        reported_cost_usd = h.reported_cost_usd + EXCLUDED.reported_cost_usd""",
    f"""INSERT INTO {_QUESTION} AS q (assistant_id, question_key, frequency, last_asked)
    SELECT assistant_id, question_key, count(*), max("timestamp")
    FROM inserted WHERE question_key <> ''
    GROUP BY 1, 2
    ORDER BY 1, 2
    ON CONFLICT (assistant_id, question_key) DO UPDATE SET
        frequency = q.frequency + EXCLUDED.frequency,
        last_asked = greatest(q.last_asked, EXCLUDED.last_asked)""",
    f"""INSERT INTO {_VARIANT} AS v (assistant_id, question_key, text_hash, text, asked,
        last_asked)
    SELECT assistant_id, question_key, md5(question)::uuid, min(question), count(*),
        max("timestamp")
    FROM inserted WHERE question_key <> ''
    GROUP BY 1, 2, 3
    ORDER BY 1, 2, 3
    ON CONFLICT (assistant_id, question_key, text_hash) DO UPDATE SET
        asked = v.asked + EXCLUDED.asked,
        last_asked = greatest(v.last_asked, EXCLUDED.last_asked)""",
)
RETURNING = (
    "timestamp",
    "assistant_id",
    "assistant_name",
    "model",
    "feature",
    "success",
    "response_time_ms",
    "tokens_in",
    "tokens_out",
    "cached_tokens",
    "cache_hit",
    "reported_cost_usd",
    "question",
    "question_key",
    # What the ai.* metric sources read (apps.ai.metric_sources)
    "ttft_ms",
    "generation_ms",
    "user_id",
    "estimated_cost_usd",
    "steps",
)
