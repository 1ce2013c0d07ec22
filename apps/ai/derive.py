"""Metric points every stored AI usage also becomes, so statistics, rollups, alert rules
and /metrics answer for AI by name (the built-in rules watch two of them)."""

import hashlib
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
    """The points of these rows (JSON rows from the outbox, or dumped rows): each built
    once, tagged feature, model and assistant, its event_id derived from the row's and
    what it measures, so a re-run stores it once."""
    prices = PriceBook()  # one query a batch: the prices as they stand when it is stored
    priced = bool(prices.prices)
    points = []
    for row in rows:
        point = _Points(row, points)
        point("ok", SUCCESS_RATE, "gauge", 100 if row["success"] else 0)
        if row["response_time_ms"] is not None:
            point("rt", RESPONSE_TIME, "timer", row["response_time_ms"])
        if row["ttft_ms"] is not None:
            point("ttft", TTFT, "timer", row["ttft_ms"])
        _speed_points(row, point)
        if priced:
            at = row["timestamp"]
            if isinstance(at, str):  # rows from the outbox are JSON
                at = datetime.fromisoformat(at)
            cost = prices.cost(
                row["model"], at, row["tokens_in"], row["tokens_out"], row["cached_tokens"]
            )
            if cost is not None:
                point("usd", COST, "counter", cost, {**point.tags, "user_id": row["user_id"]})
        _step_points(row, point)
    return {"metric": points}


def _speed_points(row: dict, point: "_Points") -> None:
    """Generation speed, when the client timed the generation (first token to last)."""
    generation_ms, tokens = row["generation_ms"], row["tokens_out"]
    if not generation_ms or not tokens:
        return
    point("tps", TOKENS_PER_SECOND, "gauge", tokens * 1000 / generation_ms)
    if tokens > 1:
        point("tbt", TIME_BETWEEN_TOKENS, "timer", generation_ms / (tokens - 1))


def _step_points(row: dict, point: "_Points") -> None:
    """Per pipeline step, tagged `step` and `assistant_id`: its tokens (always, so their
    count is the step's count) and its duration when known."""
    for i, step in enumerate(row["steps"] or ()):
        tags = {"step": step["name"], "assistant_id": point.tags["assistant_id"]}
        for key, name in (("tokens_in", STEP_TOKENS_IN), ("tokens_out", STEP_TOKENS_OUT)):
            point(f"s{i}:{key}", name, "counter", step.get(key) or 0, tags)
        if step.get("duration_ms") is not None:
            point(f"s{i}:ms", STEP_DURATION, "timer", step["duration_ms"], tags)


class _Points:
    """Appends the points of one row to `points`: its tags built once, and each event_id
    uuid5(_NAMESPACE, f"{row's event_id}:{suffix}") from one hash of the common part."""

    __slots__ = ("row", "points", "tags", "_hash")

    def __init__(self, row: dict, points: list[dict]):
        self.row, self.points = row, points
        self.tags = {
            "feature": row["feature"],
            "model": row["model"],
            "assistant_id": str(row["assistant_id"] or ""),
        }
        self._hash = hashlib.sha1(
            _NAMESPACE.bytes + f"{row['event_id']}:".encode(), usedforsecurity=False
        )

    def __call__(
        self, suffix: str, name: str, metric_type: str, value: float, tags: dict | None = None
    ) -> None:
        point = {
            "event_id": self._event_id(suffix),
            "timestamp": self.row["timestamp"],
            "metric_name": name,
            "metric_type": metric_type,
            "value": value,
            "tags": tags or self.tags,
            "source": "ai_usage",
        }
        if metric_type == "timer":
            point["unit"] = "ms"
        self.points.append(point)

    def _event_id(self, suffix: str) -> str:
        """str(uuid.uuid5(...)) at a third of its cost: SHA-1, version 5, RFC 4122 variant."""
        digest = self._hash.copy()
        digest.update(suffix.encode())
        raw = bytearray(digest.digest()[:16])
        raw[6] = (raw[6] & 0x0F) | 0x50
        raw[8] = (raw[8] & 0x3F) | 0x80
        text = raw.hex()
        return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"
