"""Metric points every stored AI usage also becomes, so statistics, rollups, alert rules
and /metrics answer for AI by name (the built-in rules watch two of them)."""

import uuid

RESPONSE_TIME = "ai.response_time_ms"
TTFT = "ai.ttft_ms"
SUCCESS_RATE = "ai.success_rate"  # 100 or 0 a request: its average is the success rate
STEP_DURATION = "ai.step_duration_ms"
STEP_TOKENS_IN = "ai.step_tokens_in"
STEP_TOKENS_OUT = "ai.step_tokens_out"
_NAMESPACE = uuid.UUID("8b0f6a52-61d4-4c39-a3de-2f1e0c7b9d24")


def usage_metrics(rows: list[dict]) -> dict[str, list[dict]]:
    points = []
    for row in rows:
        points.append(_point(row, "ok", SUCCESS_RATE, "gauge", 100 if row["success"] else 0))
        if row["response_time_ms"] is not None:
            points.append(_point(row, "rt", RESPONSE_TIME, "timer", row["response_time_ms"]))
        if row["ttft_ms"] is not None:
            points.append(_point(row, "ttft", TTFT, "timer", row["ttft_ms"]))
        points += _step_points(row)
    return {"metric": points}


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
        "tags": tags
        or {
            "feature": row["feature"],
            "model": row["model"],
            "assistant_id": str(row["assistant_id"] or ""),
        },
        "source": "ai_usage",
    }
    if metric_type == "timer":
        point["unit"] = "ms"
    return point
