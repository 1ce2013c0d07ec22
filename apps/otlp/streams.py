"""Cumulative OTLP streams turned into deltas, their last point kept in PostgreSQL.

A stream is one series (name, tags) from one start time (`start_time_unix_nano`):
- its first point counts from zero (the stream began at its start time), unless the
  sender gives no start time, in which case it only sets the baseline;
- each next point counts what was added since the previous one;
- a point not newer than the stored one (an export sent again) adds nothing;
- a restart is a new start time, hence a new stream counted from zero: a reset is never
  a negative delta. A value lower than the previous one within a stream (a sender that
  reuses its start time) is taken as a reset too.

The state is read `FOR UPDATE` and written in the caller's transaction, the one that
writes the items to the outbox, so a request that fails leaves the state as it was and
its retry counts the same delta (and its derived event_ids store it once).
"""

import hashlib
from dataclasses import dataclass
from datetime import timedelta

import orjson
from django.conf import settings
from django.utils import timezone

from .models import CumulativeStream


@dataclass(frozen=True)
class Stream:
    key: str
    started: bool  # whether the sender gave a start time

    @classmethod
    def of(cls, name: str, shape: str, tags: dict, start_time_unix_nano: int) -> "Stream":
        raw = orjson.dumps([name, shape, tags, start_time_unix_nano], option=orjson.OPT_SORT_KEYS)
        return cls(hashlib.blake2b(raw, digest_size=16).hexdigest(), start_time_unix_nano > 0)


def streams_advance(*, points: list[tuple[int, Stream, int, dict]]) -> dict[int, dict | None]:
    """Each point's delta from its stream's previous point, and the streams' new state.

    `points`: (point index, stream, time_unix_nano, state as sent: {"value": v} for a
    sum, apps.otlp.metrics.histogram_state for a histogram). Answers per point index
    the delta in the same shape (a histogram's with "first": whether it is the stream's
    first point), or None when it adds nothing. Call inside a transaction.
    """
    if not points:
        return {}
    keys = sorted({stream.key for _, stream, _, _ in points})
    now = timezone.now()
    # A new stream's row is claimed first (empty state), so two requests carrying its
    # first point at once take turns on that row instead of both counting the point:
    # the second waits for the first's commit, then reads what it stored.
    CumulativeStream.objects.bulk_create(
        [CumulativeStream(key=key, time_unix_nano=0, state={}, updated_at=now) for key in keys],
        ignore_conflicts=True,
    )
    # Locked in key order, so two requests sharing streams cannot deadlock.
    stored = {
        row.key: (row.time_unix_nano, row.state)
        for row in CumulativeStream.objects.select_for_update().filter(key__in=keys).order_by("key")
        if row.state  # not a claim alone
    }
    deltas: dict[int, dict | None] = {}
    changed: dict[str, tuple[int, dict]] = {}
    for index, stream, time_ns, state in sorted(points, key=lambda p: (p[1].key, p[2])):
        previous = changed.get(stream.key) or stored.get(stream.key)
        if previous is not None and time_ns <= previous[0]:
            deltas[index] = None  # seen already
            continue
        if previous is None:
            deltas[index] = _first(state) if stream.started else None
        else:
            deltas[index] = _delta(previous[1], state)
        changed[stream.key] = (time_ns, state)
    CumulativeStream.objects.bulk_create(
        [
            CumulativeStream(key=key, time_unix_nano=time_ns, state=state, updated_at=now)
            for key, (time_ns, state) in sorted(changed.items())
        ],
        update_conflicts=True,
        unique_fields=["key"],
        update_fields=["time_unix_nano", "state", "updated_at"],
    )
    return deltas


def _first(state: dict) -> dict:
    return state | {"first": True} if "count" in state else state


def _delta(previous: dict, current: dict) -> dict:
    if "value" in current:
        change = current["value"] - previous.get("value", 0.0)
        return {"value": current["value"] if change < 0 else change}
    if "bounds" in current:
        delta = _explicit_delta(previous, current)
    else:
        delta = _exponential_delta(previous, current)
    if delta is None:  # reset within the stream: everything since its start
        return _first(current)
    if current["sum"] is not None and previous.get("sum") is not None:
        delta["sum"] = current["sum"] - previous["sum"]
    else:
        delta["sum"] = None
    delta["count"] = current["count"] - previous["count"]
    delta["first"] = False
    return delta


def _explicit_delta(previous: dict, current: dict) -> dict | None:
    if previous.get("bounds") != current["bounds"]:
        return None
    pairs = zip(current["counts"], previous["counts"], strict=True)
    counts = [now - before for now, before in pairs]
    if any(n < 0 for n in counts):
        return None
    return {"bounds": current["bounds"], "counts": counts}


def _exponential_delta(previous: dict, current: dict) -> dict | None:
    shift = previous.get("scale", current["scale"]) - current["scale"]
    if shift < 0 or "positive" not in previous:
        return None  # finer than before: only a reset does that
    delta: dict = {"scale": current["scale"], "zero": current["zero"] - previous["zero"]}
    for side in ("positive", "negative"):
        before: dict[int, int] = {}
        for index, n in previous[side]:  # downscaled to the current scale
            before[index >> shift] = before.get(index >> shift, 0) + n
        counts = []
        for index, n in current[side]:
            counts.append([index, n - before.pop(index, 0)])
        if before or any(n < 0 for _, n in counts):
            return None
        delta[side] = [[index, n] for index, n in counts if n]
    return None if delta["zero"] < 0 else delta


def stream_forget(*, days: int | None = None) -> int:
    """Delete streams not seen for OTLP_STREAM_RETENTION_DAYS; returns how many went."""
    days = settings.OTLP_STREAM_RETENTION_DAYS if days is None else days
    cutoff = timezone.now() - timedelta(days=days)
    deleted = 0
    while True:  # bounded batches: never one unbounded statement
        keys = CumulativeStream.objects.filter(updated_at__lt=cutoff).values_list("key", flat=True)
        batch = list(keys[: settings.PURGE_BATCH_SIZE])
        if not batch:
            return deleted
        deleted += CumulativeStream.objects.filter(key__in=batch).delete()[0]
