"""Metric points every stored AI usage also becomes, so statistics, rollups, alert rules
and /metrics answer for AI by name (the built-in rules watch two of them)."""

import uuid
from datetime import datetime

from .prices import PriceBook

RESPONSE_TIME = "ai.response_time_ms"
TTFT = "ai.ttft_ms"
SUCCESS_RATE = "ai.success_rate"  # 100 or 0 a request: its average is the success rate
STEP_DURATION = "ai.step_duration_ms"
STEP_TOKENS_IN = "ai.step_tokens_in"
STEP_TOKENS_OUT = "ai.step_tokens_out"
TOKENS_PER_SECOND = "ai.tokens_per_second"  # output tokens over generation_ms
TIME_BETWEEN_TOKENS = "ai.time_between_tokens_ms"  # generation_ms / (tokens_out - 1)
COST = "ai.cost_usd"  # priced when stored, tagged user_id too: for cost alert rules
_NAMESPACE = uuid.UUID("8b0f6a52-61d4-4c39-a3de-2f1e0c7b9d24")


def usage_metrics(rows: list[dict]) -> dict[str, list[dict]]:
    prices = PriceBook()  # one query a batch: the prices as they stand when it is stored
    points = []
    for row in rows:
        points.append(_point(row, "ok", SUCCESS_RATE, "gauge", 100 if row["success"] else 0))
        if row["response_time_ms"] is not None:
            points.append(_point(row, "rt", RESPONSE_TIME, "timer", row["response_time_ms"]))
        if row["ttft_ms"] is not None:
            points.append(_point(row, "ttft", TTFT, "timer", row["ttft_ms"]))
        points += _speed_points(row)
        at = row["timestamp"]
        if isinstance(at, str):  # rows from the outbox are JSON
            at = datetime.fromisoformat(at)
        cost = prices.cost(
            row["model"], at, row["tokens_in"], row["tokens_out"], row["cached_tokens"]
        )
        if cost is not None:
            tags = {**_tags(row), "user_id": row["user_id"]}
            points.append(_point(row, "usd", COST, "counter", cost, tags))
        points += _step_points(row)
    return {"metric": points}


def _speed_points(row: dict) -> list[dict]:
    """Generation speed, when the client timed the generation (first token to last)."""
    generation_ms, tokens = row["generation_ms"], row["tokens_out"]
    if not generation_ms or not tokens:
        return []
    points = [_point(row, "tps", TOKENS_PER_SECOND, "gauge", tokens * 1000 / generation_ms)]
    if tokens > 1:
        gap = generation_ms / (tokens - 1)
        points.append(_point(row, "tbt", TIME_BETWEEN_TOKENS, "timer", gap))
    return points


def _step_points(row: dict) -> list[dict]:
    """Per pipeline step, tagged `step` and `assistant_id`: its tokens (always, so their
    count is the step's count) and its duration when known."""
    points = []
    for i, step in enumerate(row["steps"] or ()):
        tags = {"step": step["name"], "assistant_id": str(row["assistant_id"] or "")}
        for key, name in (("tokens_in", STEP_TOKENS_IN), ("tokens_out", STEP_TOKENS_OUT)):
            points.append(_point(row, f"s{i}:{key}", name, "counter", step.get(key) or 0, tags))
        if step.get("duration_ms") is not None:
            points.append(
                _point(row, f"s{i}:ms", STEP_DURATION, "timer", step["duration_ms"], tags)
            )
    return points


def _tags(row: dict) -> dict[str, str]:
    return {
        "feature": row["feature"],
        "model": row["model"],
        "assistant_id": str(row["assistant_id"] or ""),
    }


def _point(
    row: dict, suffix: str, name: str, metric_type: str, value: float, tags: dict | None = None
) -> dict:
    """One point of `row`, tagged feature, model and assistant, with an event_id derived
    from the row's: a re-run stores it once."""
    point = {
        "event_id": str(uuid.uuid5(_NAMESPACE, f"{row['event_id']}:{suffix}")),
        "timestamp": row["timestamp"],
        "metric_name": name,
        "metric_type": metric_type,
        "value": value,
        "tags": tags or _tags(row),
        "source": "ai_usage",
    }
    if metric_type == "timer":
        point["unit"] = "ms"
    return point
