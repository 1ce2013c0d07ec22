"""The in-process metric API (counters, gauges, timers): buffered, never raising."""

from datetime import datetime

from apps.ingest.buffer import record_later

from .models import MetricType


def record_metric(
    metric_name: str,
    value: float,
    metric_type: str = MetricType.GAUGE,
    *,
    labels: dict | None = None,
    unit: str = "",
    source: str = "",
    timestamp: datetime | None = None,
) -> bool:
    """Record one metric point; returns whether it was accepted (see record_later)."""
    item = {
        "metric_name": metric_name,
        "metric_type": str(metric_type),
        "value": value,
        "tags": labels or {},
        "unit": unit,
        "source": source,
    }
    if timestamp is not None:
        item["timestamp"] = timestamp.isoformat()
    return record_later("metric", item)


def increment_counter(metric_name: str, value: float = 1, *, labels: dict | None = None) -> bool:
    return record_metric(metric_name, value, MetricType.COUNTER, labels=labels)


def record_gauge(metric_name: str, value: float, *, labels: dict | None = None) -> bool:
    return record_metric(metric_name, value, MetricType.GAUGE, labels=labels)


def record_timer(metric_name: str, duration_ms: float, *, labels: dict | None = None) -> bool:
    return record_metric(metric_name, duration_ms, MetricType.TIMER, labels=labels, unit="ms")
