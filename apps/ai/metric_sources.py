"""The ai.* metrics: statistics, rollups, alert rules and /metrics answer for AI by
name (the built-in rules watch two of them), read from the usage rows themselves
(apps.metrics.sources), so storing a request writes no metric point."""

from apps.metrics.sources import Source, register_source

from .models import AiUsage

RESPONSE_TIME = "ai.response_time_ms"
TTFT = "ai.ttft_ms"
SUCCESS_RATE = "ai.success_rate"  # 100 or 0 a request: its average is the success rate
STEP_DURATION = "ai.step_duration_ms"
STEP_TOKENS_IN = "ai.step_tokens_in"
STEP_TOKENS_OUT = "ai.step_tokens_out"
TOKENS_PER_SECOND = "ai.tokens_per_second"  # output tokens over generation_ms
TIME_BETWEEN_TOKENS = "ai.time_between_tokens_ms"  # generation_ms / (tokens_out - 1)
COST = "ai.cost_usd"  # priced when received, tagged user_id too: for cost alert rules

TABLE = AiUsage._meta.db_table
_ASSISTANT = ("assistant_id", "coalesce(r.assistant_id::text, '')")
_LABELS = (("feature", "r.feature"), ("model", "r.model"), _ASSISTANT)
# A point per pipeline step, tagged `step` and `assistant_id`: its tokens (always, so
# their count is the step's count) and its duration when known.
_STEPS = " CROSS JOIN LATERAL jsonb_array_elements(r.steps) AS s(step)"
_STEP_LABELS = (("step", "s.step ->> 'name'"), _ASSISTANT)
_TIMED = "r.generation_ms >= 1e-6"


def _source(name: str, metric_type: str, value: str, **options) -> Source:
    options.setdefault("labels", _LABELS)
    unit = "ms" if metric_type == "timer" else ""
    return Source(name, metric_type, unit, TABLE, value, kind="ai_usage", **options)


SOURCES = (
    _source(SUCCESS_RATE, "gauge", "CASE WHEN r.success THEN 100 ELSE 0 END"),
    _source(RESPONSE_TIME, "timer", "r.response_time_ms"),
    _source(TTFT, "timer", "r.ttft_ms"),
    # Generation speed, when the client timed the generation (first token to last) to at
    # least a nanosecond: in floats (tokens x 1000 overflows an integer), and within the
    # bound of every metric value (1e18), so no client's numbers make a read fail.
    _source(
        TOKENS_PER_SECOND,
        "gauge",
        f"CASE WHEN {_TIMED} AND r.tokens_out > 0 AND r.generation_ms >= r.tokens_out * 1e-15 "
        "THEN r.tokens_out::float8 * 1000 / r.generation_ms END",
    ),
    _source(
        TIME_BETWEEN_TOKENS,
        "timer",
        f"CASE WHEN {_TIMED} AND r.tokens_out > 1 THEN r.generation_ms / (r.tokens_out - 1) END",
    ),
    _source(COST, "counter", "r.estimated_cost_usd", labels=(*_LABELS, ("user_id", "r.user_id"))),
    _source(
        STEP_TOKENS_IN,
        "counter",
        "coalesce((s.step ->> 'tokens_in')::float8, 0)",
        labels=_STEP_LABELS,
        join=_STEPS,
    ),
    _source(
        STEP_TOKENS_OUT,
        "counter",
        "coalesce((s.step ->> 'tokens_out')::float8, 0)",
        labels=_STEP_LABELS,
        join=_STEPS,
    ),
    _source(
        STEP_DURATION,
        "timer",
        "(s.step ->> 'duration_ms')::float8",
        labels=_STEP_LABELS,
        join=_STEPS,
    ),
)
NAMES = tuple(source.metric_name for source in SOURCES)


def register() -> None:
    for source in SOURCES:
        register_source(source)
