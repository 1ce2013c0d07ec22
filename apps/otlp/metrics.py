"""ExportMetricsServiceRequest -> this service's metric items.

- gauge: a gauge point per data point.
- sum, monotonic: a counter increment; delta points as sent, cumulative ones turned
  into deltas per stream (apps.otlp.streams). Not monotonic (an up-down counter): a
  gauge of the value sent (cumulative: the level; delta: the change).
- histogram, exponential histogram: one point per observation, see apps.otlp.histograms;
  `timer` when the unit is a time unit, else `histogram`. Cumulative ones per stream,
  bucket by bucket.
- summary: a gauge per quantile, tagged `quantile`.

Names are kept as sent; a character the metric store refuses (`/`) becomes `_`. Every
item gets an event_id derived from its stream and time, so an export sent again is
stored once.
"""

import hashlib
import math
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache

import orjson
from django.conf import settings
from opentelemetry.proto.metrics.v1 import metrics_pb2

from apps.metrics.schemas import NAME_PATTERN

from . import histograms
from .attributes import MetricTags, attributes
from .streams import Stream

DELTA = metrics_pb2.AGGREGATION_TEMPORALITY_DELTA
CUMULATIVE = metrics_pb2.AGGREGATION_TEMPORALITY_CUMULATIVE
NO_RECORDED_VALUE = metrics_pb2.DATA_POINT_FLAGS_NO_RECORDED_VALUE_MASK
TIME_UNITS = frozenset({"ns", "us", "ms", "s", "min", "h", "d"})
_NOT_NAME = re.compile(r"[^A-Za-z0-9_:.\-]")
FAR_FUTURE = datetime(9999, 12, 31, tzinfo=UTC)
_IDS = b"otlp-event-ids"  # the key of derived event_ids


def metric_name(name: str) -> str:
    cleaned = _NOT_NAME.sub("_", name)[:200]
    if not cleaned or not NAME_PATTERN.fullmatch(cleaned):
        cleaned = f"_{cleaned}"[:200]
    return cleaned


@lru_cache(maxsize=4096)  # an SDK's export gives all its points the same time
def timestamp(time_unix_nano: int) -> datetime | None:
    """The item's time (a datetime: the pipeline takes it as is, with no text between)."""
    if not time_unix_nano:
        return None  # the server's clock
    try:
        return datetime.fromtimestamp(time_unix_nano / 1e9, UTC)
    except (OverflowError, OSError, ValueError):
        return FAR_FUTURE  # refused by the time bounds, by index


def event_id(*parts) -> str:
    """A UUID (version 5 layout) derived from `parts` (bytes, or anything JSON can write):
    the same parts, the same id."""
    raw = b"\x1f".join(part if isinstance(part, bytes) else orjson.dumps(part) for part in parts)
    digest = bytearray(hashlib.blake2b(raw, digest_size=16, key=_IDS).digest())
    digest[6] = (digest[6] & 0x0F) | 0x50
    digest[8] = (digest[8] & 0x3F) | 0x80
    x = digest.hex()
    return f"{x[:8]}-{x[8:12]}-{x[12:16]}-{x[16:20]}-{x[20:]}"


@dataclass
class Point:
    """One OTLP data point, before it becomes items."""

    index: int  # its position among the request's data points
    name: str
    unit: str
    tags: dict[str, str]
    data: object  # the *DataPoint message
    shape: str  # gauge, sum, histogram, exponential_histogram, summary
    cumulative: bool = False
    monotonic: bool = False

    resource_key: bytes = b""  # the resource's identity, shared by its points
    _sent: bytes = b""

    def id_of(self, *parts) -> str:
        """An event_id for an item of this point: from the point as sent (its attributes,
        times and values), its metric and resource, and `parts` (which item of the point)."""
        if not self._sent:
            self._sent = b"\x1f".join(
                (
                    self.resource_key,
                    self.name.encode(),
                    self.shape.encode(),
                    self.data.SerializeToString(deterministic=True),
                )
            )
        return event_id(self._sent, *parts)


@dataclass
class Converted:
    items: list[dict] = field(default_factory=list)
    origins: list[int] = field(default_factory=list)  # per item, its data point's index
    refused: dict[int, str] = field(default_factory=dict)  # data point index -> why
    points: int = 0
    names: dict[int, str] = field(default_factory=dict)  # data point index -> metric name


def data_points(message) -> list[Point]:
    """Every data point of the request with its metric's name, unit and tags."""
    points: list[Point] = []
    for resource_metrics in message.resource_metrics:
        tags_of = MetricTags(attributes(resource_metrics.resource.attributes))
        resource_key = hashlib.blake2b(
            resource_metrics.resource.SerializeToString(deterministic=True), digest_size=16
        ).digest()
        for scope_metrics in resource_metrics.scope_metrics:
            for metric in scope_metrics.metrics:
                shape = metric.WhichOneof("data")
                if shape is None:
                    continue
                body = getattr(metric, shape)
                cumulative = getattr(body, "aggregation_temporality", DELTA) == CUMULATIVE
                monotonic = getattr(body, "is_monotonic", False)
                name = metric_name(metric.name)
                for data in body.data_points:
                    points.append(
                        Point(
                            index=len(points),
                            name=name,
                            unit=metric.unit[:32],
                            tags=tags_of(attributes(data.attributes)),
                            data=data,
                            shape=shape,
                            cumulative=cumulative,
                            monotonic=monotonic,
                            resource_key=resource_key,
                        )
                    )
    return points


def stream_of(point: Point) -> Stream | None:
    """The cumulative stream a point belongs to (None: the point is a delta or a level)."""
    if not point.cumulative or point.shape == "gauge":
        return None
    if point.shape == "sum" and not point.monotonic:
        return None  # an up-down counter's cumulative value is its level: a gauge
    return Stream.of(point.name, point.shape, point.tags, point.data.start_time_unix_nano)


def convert(points: list[Point], deltas: dict[int, dict | None]) -> Converted:
    """Items for every point; `deltas` holds, per cumulative point's index, its change
    since the stream's previous point (None: nothing new, e.g. an export sent again)."""
    out = Converted(points=len(points))
    cap = settings.OTLP_MAX_ITEMS_PER_REQUEST
    for point in points:
        out.names[point.index] = point.name
        if point.data.flags & NO_RECORDED_VALUE:
            continue
        try:
            items = _items(point, deltas.get(point.index, _AS_SENT))
        except histograms.OutOfRangeError as exc:
            out.refused[point.index] = f"{point.name}: {exc}"
            continue
        if len(out.items) + len(items) > cap:
            out.refused[point.index] = (
                f"{point.name}: more than OTLP_MAX_ITEMS_PER_REQUEST ({cap}) values in one request"
            )
            continue
        out.items.extend(items)
        out.origins.extend([point.index] * len(items))
    return out


_AS_SENT = object()


def _item(point: Point, metric_type: str, value: float, tags: dict, *id_parts) -> dict:
    item = {
        "event_id": point.id_of(*id_parts),
        "metric_name": point.name,
        "metric_type": metric_type,
        "value": value,
        "unit": point.unit,
        "tags": tags,
        "source": "otlp",
    }
    when = timestamp(point.data.time_unix_nano)
    if when is not None:
        item["timestamp"] = when
    return item


def _number(data) -> float:
    which = data.WhichOneof("value")
    if which is None:
        raise histograms.OutOfRangeError("a number data point without a value")
    value = float(getattr(data, which))
    if not math.isfinite(value):
        raise histograms.OutOfRangeError("the value is not a finite number")
    return value


def _items(point: Point, delta) -> list[dict]:
    data = point.data
    if point.shape == "gauge" or (point.shape == "sum" and not point.monotonic):
        return [_item(point, "gauge", _number(data), point.tags)]
    if point.shape == "sum":
        value = _number(data) if delta is _AS_SENT else (delta or {}).get("value")
        if value is None:
            return []
        if value < 0:
            raise histograms.OutOfRangeError("a monotonic sum decreased within one delta")
        return [_item(point, "counter", value, point.tags)]
    if point.shape == "summary":
        return [
            _item(point, "gauge", q.value, point.tags | {"quantile": f"{q.quantile:g}"}, q.quantile)
            for q in data.quantile_values
            if math.isfinite(q.value)
        ]
    return _histogram_items(point, delta)


def _histogram_items(point: Point, delta) -> list[dict]:
    data = point.data
    if delta is _AS_SENT:
        delta = histogram_state(point)
    if delta is None:
        return []
    count = delta["count"]
    if count > settings.OTLP_HISTOGRAM_MAX_OBSERVATIONS:
        raise histograms.OutOfRangeError(
            f"{count} observations in one point, more than OTLP_HISTOGRAM_MAX_OBSERVATIONS "
            f"({settings.OTLP_HISTOGRAM_MAX_OBSERVATIONS})"
        )
    if point.shape == "histogram":
        slots = histograms.explicit_slots(delta["bounds"], delta["counts"])
    else:
        slots = histograms.exponential_slots(
            delta["scale"],
            delta["zero"],
            data.zero_threshold,
            dict(delta["positive"]),
            dict(delta["negative"]),
        )
    # min and max describe the stream's whole life for a cumulative point: they hold for
    # the delta only when it is the stream's first.
    whole = delta.get("first", True)
    low = data.min if whole and data.HasField("min") else None
    high = data.max if whole and data.HasField("max") else None
    total = delta.get("sum")
    observed = histograms.values(slots, total=total, low=low, high=high)
    kind = "timer" if point.unit in TIME_UNITS else "histogram"
    return [
        _item(point, kind, value, point.tags, "h", i)
        for i, value in enumerate(observed)
        if math.isfinite(value)
    ]


def histogram_state(point: Point) -> dict:
    """A histogram point's counts as stored per stream (and as a delta is expressed)."""
    data = point.data
    total = data.sum if data.HasField("sum") and math.isfinite(data.sum) else None
    if point.shape == "histogram":
        if not all(math.isfinite(bound) for bound in data.explicit_bounds):
            raise histograms.OutOfRangeError("explicit_bounds must be finite numbers")
        counts = list(data.bucket_counts)
        return {
            "bounds": list(data.explicit_bounds),
            "counts": counts,
            "count": sum(counts),
            "sum": total,
        }
    positive = _exp_counts(data.positive)
    negative = _exp_counts(data.negative)
    return {
        "scale": data.scale,
        "zero": data.zero_count,
        "positive": positive,
        "negative": negative,
        "count": data.zero_count + sum(n for _, n in positive) + sum(n for _, n in negative),
        "sum": total,
    }


def _exp_counts(buckets) -> list[list[int]]:
    return [[buckets.offset + i, n] for i, n in enumerate(buckets.bucket_counts) if n]
