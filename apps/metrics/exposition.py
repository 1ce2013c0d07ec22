"""Prometheus text exposition: recent values of recorded metrics, and our own figures."""

import logging
import re

import orjson
from django.db import DatabaseError, connection, transaction
from django.db.models import Count
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    Metric,
)

from apps.core.db import connection_lost
from apps.core.queues import queue_depths
from apps.devices.selectors import smart_filter_counts
from apps.ingest.selectors import ingest_counts, outbox_backlog

from .models import DirtyMinute, RollupFailure
from .rollups import ROLLUP, SERIES
from .sources import points_relation

logger = logging.getLogger(__name__)

GAUGE_WINDOW = "15 minutes"
SUMMARY_WINDOW = "5 minutes"
_INVALID = re.compile(r"[^a-zA-Z0-9_:]")


def prometheus_name(name: str) -> str:
    clean = _INVALID.sub("_", name)
    return clean if not clean[:1].isdigit() else f"_{clean}"


def _labels(tags) -> dict[str, str]:
    if isinstance(tags, str | bytes):  # raw cursors hand jsonb over as text
        tags = orjson.loads(tags)
    return {prometheus_name(k).lstrip(":") or "_": str(v) for k, v in tags.items()}


# `{only}` is where the per-metric fallback narrows a query to one metric; `{points}` is
# every point (apps.metrics.sources), filled in when the query runs.
GAUGES = (
    "SELECT DISTINCT ON (metric_name, tags_hash) metric_name, tags, value "
    "FROM {points} p WHERE metric_type = 'gauge' "
    f"AND \"timestamp\" > now() - interval '{GAUGE_WINDOW}' {{only}}"
    'ORDER BY metric_name, tags_hash, "timestamp" DESC'
)
# Day rollups hold every rolled point: their sum is the running total.
COUNTERS = (
    f"SELECT r.metric_name, s.tags, sum(r.sum) FROM {ROLLUP} r "
    f"JOIN {SERIES} s USING (metric_name, tags_hash) "
    "WHERE r.resolution = 'd' AND s.metric_type = 'counter' {only}"
    "GROUP BY r.metric_name, s.tags ORDER BY r.metric_name"
)
# Quantiles by the project's one definition (percentile_cont, README "Percentiles"),
# exact over the window's raw points, as statistics answer for the same points.
SUMMARY_QUANTILES = (0.5, 0.95, 0.99)
SUMMARIES = (
    "SELECT metric_name, tags, count(*), sum(value), "
    f"percentile_cont(ARRAY{list(SUMMARY_QUANTILES)}) WITHIN GROUP (ORDER BY value) "
    "FROM {points} p WHERE metric_type IN ('timer', 'histogram') "
    f"AND \"timestamp\" > now() - interval '{SUMMARY_WINDOW}' {{only}}"
    "GROUP BY metric_name, tags_hash, tags ORDER BY metric_name"
)


def _sql(sql: str, *, only: str) -> str:
    return sql.format(only=only, points=points_relation(tags=True))


class RecordedMetricsCollector:
    """Gauges: last value (15 min); counters: running total; timers/histograms: 5-min summary.

    One metric whose figures cannot be computed (a sum overflowing) is left out
    and logged, never the whole scrape: `skipped` names it for ServiceCollector.
    """

    def __init__(self) -> None:
        self.skipped: set[str] = set()

    def collect(self):
        yield from self._families(GAUGES, "metric_name", self._gauge)
        yield from self._families(COUNTERS, "r.metric_name", self._counter)
        yield from self._families(SUMMARIES, "metric_name", self._summary)

    def _rows(self, sql: str, column: str) -> list[tuple]:
        """Rows of `sql` over every metric; if that fails, metric by metric, skipping
        the metrics that fail on their own."""
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(_sql(sql, only=""))
                return cursor.fetchall()
        except DatabaseError:
            if connection_lost():
                raise
            logger.warning("/metrics: a query failed; retrying it metric by metric", exc_info=True)
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT DISTINCT metric_name FROM {SERIES} ORDER BY 1")
            names = [row[0] for row in cursor.fetchall()]
        rows: list[tuple] = []
        for name in names:
            try:
                with transaction.atomic(), connection.cursor() as cursor:
                    cursor.execute(_sql(sql, only=f"AND {column} = %s "), [name])
                    rows += cursor.fetchall()
            except DatabaseError as exc:
                if connection_lost():
                    raise
                self.skipped.add(name)
                logger.error("/metrics: metric %r left out: %s", name, str(exc).strip())
        return rows

    def _families(self, sql: str, column: str, add) -> list[Metric]:
        families: dict[str, Metric] = {}
        for row in self._rows(sql, column):
            add(families, *row)
        return list(families.values())

    @staticmethod
    def _family(families: dict, name: str, help_text: str, kind: str) -> Metric:
        family = families.get(name)
        if family is None:
            family = families[name] = Metric(prometheus_name(name), help_text, kind)
        return family

    def _gauge(self, families: dict, name: str, tags, value: float) -> None:
        family = self._family(families, name, f"{name} (last value)", "gauge")
        family.add_sample(prometheus_name(name), _labels(tags), value)

    def _counter(self, families: dict, name: str, tags, total: float) -> None:
        family = self._family(families, name, f"{name} (sum of increments)", "counter")
        family.add_sample(f"{prometheus_name(name)}_total", _labels(tags), total)

    def _summary(self, families: dict, name: str, tags, count, total, quantiles) -> None:
        family = self._family(families, name, f"{name} over {SUMMARY_WINDOW}", "summary")
        base, labels = prometheus_name(name), _labels(tags)
        for q, value in zip(SUMMARY_QUANTILES, quantiles, strict=True):
            family.add_sample(base, {**labels, "quantile": str(q)}, value)
        family.add_sample(f"{base}_count", labels, count)
        family.add_sample(f"{base}_sum", labels, total)


class ServiceCollector:
    """This service's own figures: ingest counts, outbox and queue depth, rollup lag."""

    def __init__(self, recorded: RecordedMetricsCollector | None = None) -> None:
        self.recorded = recorded  # collected first: what it had to leave out

    def collect(self):
        items = CounterMetricFamily(
            "analytics_ingest_items",
            "Items accepted, rejected or dropped as duplicates, per kind",
            labels=["kind", "outcome"],
        )
        try:
            for (kind, outcome), n in sorted(ingest_counts().items()):
                items.add_metric([kind, outcome], n)
        except Exception:
            logger.debug("ingest counters unavailable", exc_info=True)
        yield items

        backlog = outbox_backlog()
        dirty = DirtyMinute.objects.count()
        parked = list(
            RollupFailure.objects.values_list("metric_name")
            .annotate(n=Count("id"))
            .order_by("metric_name")
        )
        yield GaugeMetricFamily(
            "analytics_outbox_batches", "Outbox batches waiting", value=backlog.batches
        )
        yield GaugeMetricFamily(
            "analytics_outbox_items", "Items waiting in the outbox", value=backlog.items
        )
        yield GaugeMetricFamily(
            "analytics_outbox_failed_batches", "Batches the database refused", value=backlog.failed
        )
        yield GaugeMetricFamily(
            "analytics_rollup_dirty_minutes", "Metric minutes waiting to be rolled up", value=dirty
        )
        yield GaugeMetricFamily(
            "analytics_rollup_failed_minutes",
            "Metric minutes the roller could not roll (parked; retry them in the admin)",
            value=sum(n for _, n in parked),
        )
        by_metric = GaugeMetricFamily(
            "analytics_rollup_failed_metric_minutes",
            "Parked metric minutes, per metric",
            labels=["metric"],
        )
        for name, n in parked:
            by_metric.add_metric([name], n)
        yield by_metric
        skipped = GaugeMetricFamily(
            "analytics_exposition_skipped_metrics",
            "Recorded metrics left out of this scrape: their figures cannot be computed",
            labels=["metric"],
        )
        for name in sorted(self.recorded.skipped if self.recorded else ()):
            skipped.add_metric([name], 1)
        yield skipped

        depth = GaugeMetricFamily(
            "analytics_queue_depth", "Celery messages queued", labels=["queue"]
        )
        for queue, messages in queue_depths().items():
            depth.add_metric([queue], messages)
        yield depth

        filtered = CounterMetricFamily(
            "analytics_smart_filter_points",
            "Device metric points stored or filtered by the smart filter",
            labels=["decision"],
        )
        for decision, n in sorted(smart_filter_counts().items()):
            filtered.add_metric([decision], n)
        yield filtered


# Collectors other apps add to /metrics (each a class with `collect()`), so the
# exposition does not have to read their tables: see `add_collector`.
_extra_collectors: list[type] = []


def add_collector(collector: type) -> None:
    """Have /metrics also expose `collector()`'s families (call it from AppConfig.ready)."""
    if collector not in _extra_collectors:
        _extra_collectors.append(collector)


def render() -> bytes:
    from prometheus_client import CollectorRegistry, generate_latest

    registry = CollectorRegistry(auto_describe=False)
    recorded = RecordedMetricsCollector()
    registry.register(recorded)  # registration order is collection order
    registry.register(ServiceCollector(recorded))
    for collector in _extra_collectors:
        registry.register(collector())
    return generate_latest(registry)
