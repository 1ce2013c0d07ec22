"""Smart Data Filter: which device metrics points are worth a row.

A point is stored when it is the device's first (no known state) or its first
since this service started ("first contact"), when any metric moved more than
SMART_FILTER_THRESHOLD_PERCENT from the last STORED value, or when
SMART_FILTER_SNAPSHOT_SECONDS passed (by the items' own timestamps) since the
last stored point. Everything else is counted and dropped. A snapshot stores
the device's full set of last-known metrics, not only the arriving point's.

"Since this service started": the web server's master process writes a new
service epoch to Redis when it starts (`epoch_start`); a device whose state
was judged under another epoch has its next point stored as "first". A state
rebuilt from the database belongs to the current epoch (a cache refill is not
a restart).

The "last stored" state of a device is shared by every web worker: one Redis
hash per device, read, compared and updated by ONE Lua script call, so two
workers evaluating the same device at once serialise on Redis and cannot both
decide from the same old state. The hash holds `ts` (epoch microseconds of the
newest stored point) and `m:<name>` = typed value (`n:<number>`, `b:1`/`b:0`,
`s:<text>`), all written from strings so no precision is lost in Lua.

The state is a cache of the table: when a device's hash is missing (expired,
evicted, Redis restarted, or deleted after a failed write) it is rebuilt from
the device's latest DeviceMetric row, installed only if still missing, and the
points are evaluated against it, in the same script call. When Redis cannot be
reached every point is stored ("filter_unavailable"): data is never dropped
because the filter is down.

TTL: each evaluation refreshes the hash to 3 x the snapshot interval. A device
silent that long would have its next point stored as a snapshot anyway, so
expiry never changes a decision (the database rebuild even keeps the reason
right) while Redis only holds the devices that are actually reporting.
"""

import logging
import time
from collections import Counter
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from pathlib import Path

import orjson
from django.conf import settings
from django.db import DatabaseError
from redis import RedisError
from redis.commands.core import Script

from apps.core.redis import get_redis, redis_key
from apps.ingest.registry import Decisions

from .models import DeviceMetric

logger = logging.getLogger(__name__)

FILTERED = "filtered"
FIRST = "first"
CHANGED = "changed"
SNAPSHOT = "snapshot"
FILTER_UNAVAILABLE = "filter_unavailable"
REASONS = (FIRST, CHANGED, SNAPSHOT, FILTERED, FILTER_UNAVAILABLE)

TTL_SNAPSHOTS = 3  # the state lives this many snapshot intervals after the last point
MAX_STATE_METRICS = 1000  # metric names remembered per device (10 points' worth)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)

# KEYS[1]: the device's state hash; KEYS[2]: the service epoch. ARGV[1]: JSON
#   {mode: "probe" | "load", threshold: percent, snapshot: "us", ttl: seconds, max_fields: n,
#    points: [{ts: "us", m: [field, encoded, ...]}, ...],
#    seed: {ts: "us", m: [...]}  (only in "load" mode, when the database had a row)}
# "probe" answers {"missing"} and changes nothing when there is no state; "load"
# installs `seed` (or, without one, treats the first point as first contact).
# Returns {reasons, snapshots}: one reason per point, in order, and for each
# "snapshot" point {position, field, value, ...} of the device's whole state.
_LUA = (Path(__file__).parent / "smartfilter.lua").read_text()


def key_prefix() -> str:
    return redis_key("smartfilter")


def state_key(device_id: str) -> str:
    return f"{key_prefix()}:state:{device_id}"


def epoch_key() -> str:
    return f"{key_prefix()}:epoch"


def epoch_start() -> str:
    """Begin a new service epoch: every device's next point is stored as first contact.

    Called once when the web server starts (its master process), not per worker.
    """
    epoch = f"{time.time_ns():x}"
    get_redis().set(epoch_key(), epoch)
    return epoch


@lru_cache(maxsize=1)
def _script() -> Script:
    return get_redis().register_script(_LUA)


def _micros(moment: datetime | str) -> str:
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    return str((moment - _EPOCH) // _MICROSECOND)


def _encode(value) -> str:
    if isinstance(value, bool):
        return "b:1" if value else "b:0"
    if isinstance(value, int | float):
        return f"n:{value!r}"
    return f"s:{value}"


def _flat(metrics: dict) -> list[str]:
    out: list[str] = []
    for name, value in metrics.items():
        out += (f"m:{name}", _encode(value))
    return out


def _decode(encoded: str):
    kind, _, text = encoded.partition(":")
    if kind == "b":
        return text == "1"
    if kind == "n":
        try:
            return int(text)
        except ValueError:
            return float(text)
    return text


def _metrics_of(flat: list[str]) -> dict:
    return {flat[i][2:]: _decode(flat[i + 1]) for i in range(0, len(flat), 2)}


def _latest_stored(device_ids: list[str]) -> dict[str, dict]:
    """The newest stored point of each device, as a seed for its state."""
    rows = (
        DeviceMetric.objects.filter(device_id__in=device_ids)
        .order_by("device_id", "-timestamp", "-id")
        .distinct("device_id")
        .values_list("device_id", "timestamp", "metrics")
    )
    return {
        device_id: {"ts": _micros(ts), "m": _flat(metrics or {})} for device_id, ts, metrics in rows
    }


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _run(groups: dict[str, list[dict]], *, mode: str, seeds=None) -> dict[str, tuple | None]:
    """One atomic script call per device, all in one round trip.

    Per device: None when its state is missing (probe), else (reasons, {position: metrics})
    with the full metrics of each snapshot point.
    """
    snapshot = int(settings.SMART_FILTER_SNAPSHOT_SECONDS)
    common = {
        "mode": mode,
        "threshold": float(settings.SMART_FILTER_THRESHOLD_PERCENT),
        "snapshot": str(snapshot * 1_000_000),
        "ttl": max(1, TTL_SNAPSHOTS * snapshot),
        "max_fields": MAX_STATE_METRICS,
    }
    script = _script()
    pipe = get_redis().pipeline(transaction=False)
    devices = list(groups)
    for device_id in devices:
        request = {
            **common,
            "points": [
                {"ts": _micros(row["timestamp"]), "m": _flat(row["metrics"])}
                for row in groups[device_id]
            ],
        }
        if seeds and device_id in seeds:
            request["seed"] = seeds[device_id]
        script(keys=[state_key(device_id), epoch_key()], args=[orjson.dumps(request)], client=pipe)
    results: dict[str, tuple | None] = {}
    for device_id, reply in zip(devices, pipe.execute(), strict=True):
        if _text(reply[0]) == "missing":
            results[device_id] = None
            continue
        reasons, snapshots = reply
        full = {}
        for whole in snapshots:
            full[int(whole[0]) - 1] = _metrics_of([_text(v) for v in whole[1:]])
        results[device_id] = ([_text(r) for r in reasons], full)
    return results


def decide(rows: list[dict]) -> list[str]:
    """A reason per row, in order: "first" | "changed" | "snapshot" | "filter_unavailable"
    to store it, "filtered" to drop it. Rows are validated items (device_id, timestamp
    as ISO 8601, metrics); the points of one device are evaluated in the given order.
    A "snapshot" row's `metrics` become the device's full set of last-known metrics.
    """
    reasons: list[str | None] = [None] * len(rows)
    positions: dict[str, list[int]] = {}
    for index, row in enumerate(rows):
        positions.setdefault(row["device_id"], []).append(index)

    def assign(results: dict[str, tuple | None]) -> list[str]:
        missing = []
        for device_id, result in results.items():
            if result is None:
                missing.append(device_id)
                continue
            device_reasons, snapshots = result
            for position, (index, reason) in enumerate(
                zip(positions[device_id], device_reasons, strict=True)
            ):
                reasons[index] = reason
                if position in snapshots:
                    rows[index]["metrics"] = snapshots[position]
        return missing

    def group(device_ids: Iterable[str]) -> dict[str, list[dict]]:
        return {d: [rows[i] for i in positions[d]] for d in device_ids}

    try:
        missing = assign(_run(group(positions), mode="probe"))
        if missing:
            try:
                seeds = _latest_stored(missing)
            except DatabaseError:
                # Store them unjudged; if the database is really down, the outbox
                # write fails next and the caller drops the states it just moved.
                logger.warning("smart filter cannot rebuild state; storing", exc_info=True)
                missing = []
            if missing:
                # "load" installs the seed only if the state is still missing (another
                # worker may have built it meanwhile), then evaluates, atomically.
                assign(_run(group(missing), mode="load", seeds=seeds))
    except RedisError:
        logger.warning("smart filter unavailable (Redis); storing every point", exc_info=True)
    return [FILTER_UNAVAILABLE if reason is None else reason for reason in reasons]


def gate(rows: list[dict]) -> Decisions:
    """The device-metric kind's gate: store what `decide` keeps, with its reason.

    Decisions are counted once the rows are written; if the write fails, the
    state (which now claims points that were never written) is dropped, so the
    next point rebuilds it from the table instead of being filtered against it.
    """
    reasons = decide(rows)
    stored = [reason != FILTERED for reason in reasons]
    for row, reason, keep in zip(rows, reasons, stored, strict=True):
        if keep:
            row["stored_reason"] = reason
    kept = [row["device_id"] for row, keep in zip(rows, stored, strict=True) if keep]
    return Decisions(
        stored=stored,
        reasons=reasons,
        written=lambda: record_counts(reasons),
        failed=lambda: forget(kept),
    )


def forget(device_ids: Iterable[str]) -> None:
    """Drop devices' state so the next point rebuilds it from the database."""
    keys = [state_key(d) for d in set(device_ids)]
    if not keys:
        return
    try:
        get_redis().delete(*keys)
    except RedisError:
        logger.warning("could not drop smart filter state of %d device(s)", len(keys))


def record_counts(reasons: Iterable[str]) -> None:
    """Add decisions to the shared counters; a Redis failure only loses the count."""
    by_reason = Counter(reasons)
    if not by_reason:
        return
    filtered = by_reason.get(FILTERED, 0)
    stored = sum(by_reason.values()) - filtered
    prefix = key_prefix()
    try:
        pipe = get_redis().pipeline(transaction=False)
        if stored:
            pipe.incrby(f"{prefix}:stored", stored)
        if filtered:
            pipe.incrby(f"{prefix}:filtered", filtered)
        for reason, count in by_reason.items():
            pipe.hincrby(f"{prefix}:reasons", reason, count)
        pipe.execute()
    except RedisError:
        logger.warning("smart filter counters unavailable; %d decision(s) not counted", stored)
