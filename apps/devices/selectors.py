import logging

from django.db import connection
from django.db.models import Count, Max
from django.utils import timezone
from redis import RedisError

from apps.core.redis import get_redis
from apps.core.windows import window_start

from .models import DeviceMetric, DeviceStateHistory
from .smartfilter import REASONS, key_prefix

logger = logging.getLogger(__name__)

TIMELINE_LIMIT = 5000

# Seconds spent in each state from each change to the next (or to `now`), in SQL,
# so the answer covers every change in the window however many there are.
_TIME_IN_STATE = """
WITH w AS (
    SELECT new_state, "timestamp",
           lead("timestamp", 1, %(now)s) OVER (ORDER BY "timestamp", id) AS next_ts
    FROM devices_devicestatehistory
    WHERE device_id = %(device)s AND "timestamp" >= %(since)s AND "timestamp" <= %(now)s
)
SELECT new_state, sum(extract(epoch FROM next_ts - "timestamp")), count(*),
       min("timestamp")
FROM w GROUP BY new_state
"""


def device_state_history(*, device_id: str, hours: int) -> dict:
    """The device's state changes in the window and how long it spent in each state.

    The last change before the window tells the state the window opened in,
    so time-in-state covers the whole window. The timeline holds the newest
    TIMELINE_LIMIT changes; the totals always cover all of them.
    """
    now = timezone.now()
    since = window_start(hours, now=now)
    history = DeviceStateHistory.objects.filter(device_id=device_id)
    before = history.filter(timestamp__lt=since).order_by("-timestamp", "-id").first()
    in_window = history.filter(timestamp__gte=since, timestamp__lte=now)
    newest = list(in_window.order_by("-timestamp", "-id")[: TIMELINE_LIMIT + 1])
    truncated = len(newest) > TIMELINE_LIMIT
    timeline = newest[:TIMELINE_LIMIT][::-1]

    with connection.cursor() as cursor:
        cursor.execute(_TIME_IN_STATE, {"now": now, "device": device_id, "since": since})
        rows = cursor.fetchall()
    time_in_state = {state: float(seconds) for state, seconds, _, _ in rows}
    total_changes = sum(count for _, _, count, _ in rows)
    first_change = min((first for _, _, _, first in rows), default=now)
    if before is not None:
        opening = (first_change - since).total_seconds()
        time_in_state[before.new_state] = time_in_state.get(before.new_state, 0.0) + opening
    current = newest[0].new_state if newest else (before.new_state if before else None)

    return {
        "device_id": device_id,
        "period_hours": hours,
        "since": since,
        "state_at_start": before.new_state if before else None,
        "current_state": current,
        "total_changes": total_changes,
        "truncated": truncated,
        "time_in_state_seconds": {k: round(v, 3) for k, v in time_in_state.items()},
        "timeline": [
            {
                "event_id": c.event_id,
                "timestamp": c.timestamp,
                "previous_state": c.previous_state,
                "new_state": c.new_state,
                "changed_by": c.changed_by,
                "reason": c.reason,
                "extra_data": c.extra_data,
            }
            for c in timeline
        ],
    }


def smart_filter_counts() -> dict:
    """{"stored": n, "filtered": n} since the counters began (the Prometheus exporter's
    `decision` label); {} when Redis cannot be reached, so the sample is skipped."""
    prefix = key_prefix()
    try:
        stored, filtered = get_redis().mget(f"{prefix}:stored", f"{prefix}:filtered")
    except RedisError:
        logger.warning("smart filter counters unavailable")
        return {}
    return {"stored": int(stored or 0), "filtered": int(filtered or 0)}


def smart_filter_reason_counts() -> dict:
    """Decisions by reason ("first", "changed", "snapshot", "filtered",
    "filter_unavailable"); {} when Redis cannot be reached."""
    try:
        by_reason = get_redis().hgetall(f"{key_prefix()}:reasons")
    except RedisError:
        logger.warning("smart filter counters unavailable")
        return {}
    return {reason: int(by_reason.get(reason.encode(), 0)) for reason in REASONS}


RECENT_DEVICES = 50
METRIC_POINTS_LIMIT = 5000


def recent_devices(*, limit: int = RECENT_DEVICES) -> list[dict]:
    """The devices heard from most recently (a state change or a stored metrics point),
    newest first: last seen, current state, state changes and stored metrics points."""
    seen: dict[str, dict] = {}
    changes = (
        DeviceStateHistory.objects.values("device_id")
        .annotate(last=Max("timestamp"), n=Count("id"))
        .order_by("-last")[:limit]
    )
    for row in changes:
        seen[row["device_id"]] = {
            "device_id": row["device_id"],
            "last_seen": row["last"],
            "state_changes": row["n"],
            "metric_points": 0,
            "current_state": None,
        }
    points = (
        DeviceMetric.objects.values("device_id")
        .annotate(last=Max("timestamp"), n=Count("id"))
        .order_by("-last")[:limit]
    )
    for row in points:
        entry = seen.setdefault(
            row["device_id"],
            {
                "device_id": row["device_id"],
                "last_seen": row["last"],
                "state_changes": 0,
                "metric_points": 0,
                "current_state": None,
            },
        )
        entry["metric_points"] = row["n"]
        entry["last_seen"] = max(entry["last_seen"], row["last"])
    devices = sorted(seen.values(), key=lambda d: d["last_seen"], reverse=True)[:limit]
    for device in devices:
        if device["state_changes"]:
            latest = (
                DeviceStateHistory.objects.filter(device_id=device["device_id"])
                .order_by("-timestamp", "-id")
                .values_list("new_state", flat=True)
                .first()
            )
            device["current_state"] = latest
    return devices


def device_metric_series(*, device_id: str, hours: int, now=None) -> dict:
    """The device's stored metrics points in the window (what the Smart Data Filter
    kept), as one series per metric name: [timestamp, value] for each stored point
    holding it, oldest first. Numbers and booleans (as 0/1) are series; text values
    are listed under `text` with their last value."""
    now = now or timezone.now()
    since = window_start(hours, now=now)
    rows = list(
        DeviceMetric.objects.filter(device_id=device_id, timestamp__gte=since, timestamp__lte=now)
        .order_by("-timestamp", "-id")
        .values_list("timestamp", "metrics", "stored_reason")[: METRIC_POINTS_LIMIT + 1]
    )
    truncated = len(rows) > METRIC_POINTS_LIMIT
    rows = rows[:METRIC_POINTS_LIMIT][::-1]
    series: dict[str, list] = {}
    text: dict[str, str] = {}
    for moment, metrics, _reason in rows:
        for name, value in (metrics or {}).items():
            if isinstance(value, bool):
                series.setdefault(name, []).append([moment, int(value)])
            elif isinstance(value, int | float):
                series.setdefault(name, []).append([moment, value])
            else:
                text[name] = value
    return {
        "device_id": device_id,
        "period_hours": hours,
        "since": since,
        "points": len(rows),
        "truncated": truncated,
        "series": [
            {"metric": name, "points": [{"timestamp": t, "value": v} for t, v in points]}
            for name, points in sorted(series.items())
        ],
        "text": text,
    }
