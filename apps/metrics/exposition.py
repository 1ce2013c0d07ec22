"""Prometheus text exposition: recent values of recorded metrics, and our own figures."""

import logging
import re

import orjson
from django.conf import settings
from django.db import connection
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    Metric,
)

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


class RecordedMetricsCollector:
    """Gauges: last value (15 min); counters: running total; timers/histograms: 5-min summary."""

    def collect(self):
        with connection.cursor() as cursor:
            yield from self._gauges(cursor)
            yield from self._counters(cursor)
            yield from self._summaries(cursor)

    def _gauges(self, cursor):
        cursor.execute(
            "SELECT DISTINCT ON (metric_name, tags_hash) metric_name, tags, value "
            "FROM metrics_metricevent WHERE metric_type = 'gauge' "
            f"AND \"timestamp\" > now() - interval '{GAUGE_WINDOW}' "
            'ORDER BY metric_name, tags_hash, "timestamp" DESC'
        )
        families: dict[str, Metric] = {}
        for name, tags, value in cursor.fetchall():
            base = prometheus_name(name)
            family = families.get(name)
            if family is None:
                family = families[name] = Metric(base, f"{name} (last value)", "gauge")
            family.add_sample(base, _labels(tags), value)
        yield from families.values()

    def _counters(self, cursor):
        # Day rollups hold every rolled point: their sum is the running total.
        cursor.execute(
            "SELECT r.metric_name, s.tags, sum(r.sum) FROM metrics_metricrollup r "
            "JOIN metrics_metricseries s USING (metric_name, tags_hash) "
            "WHERE r.resolution = 'd' AND s.metric_type = 'counter' "
            "GROUP BY r.metric_name, s.tags ORDER BY r.metric_name"
        )
        families: dict[str, Metric] = {}
        for name, tags, total in cursor.fetchall():
            base = prometheus_name(name)
            family = families.get(name)
            if family is None:
                family = families[name] = Metric(base, f"{name} (sum of increments)", "counter")
            family.add_sample(f"{base}_total", _labels(tags), total)
        yield from families.values()

    def _summaries(self, cursor):
        cursor.execute(
            "SELECT metric_name, tags, count(*), sum(value), "
            "percentile_cont(ARRAY[0.5, 0.95, 0.99]) WITHIN GROUP (ORDER BY value) "
            "FROM metrics_metricevent WHERE metric_type IN ('timer', 'histogram') "
            f"AND \"timestamp\" > now() - interval '{SUMMARY_WINDOW}' "
            "GROUP BY metric_name, tags_hash, tags ORDER BY metric_name"
        )
        families: dict[str, Metric] = {}
        for name, tags, count, total, quantiles in cursor.fetchall():
            base = prometheus_name(name)
            family = families.get(name)
            if family is None:
                family = families[name] = Metric(base, f"{name} over {SUMMARY_WINDOW}", "summary")
            labels = _labels(tags)
            for q, value in zip((0.5, 0.95, 0.99), quantiles, strict=True):
                family.add_sample(base, {**labels, "quantile": str(q)}, value)
            family.add_sample(f"{base}_count", labels, count)
            family.add_sample(f"{base}_sum", labels, total)
        yield from families.values()


class ServiceCollector:
    """This service's own figures: ingest counts, outbox and queue depth, rollup lag."""

    def collect(self):
        from apps.ingest.services import ingest_counts

        items = CounterMetricFamily(
            "analytics_ingest_items",
            "Items accepted or rejected, per kind",
            labels=["kind", "outcome"],
        )
        try:
            for (kind, outcome), n in sorted(ingest_counts().items()):
                items.add_metric([kind, outcome], n)
        except Exception:
            logger.debug("ingest counters unavailable", exc_info=True)
        yield items

        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*), coalesce(sum(item_count), 0), count(failed_at) "
                "FROM ingest_outboxbatch"
            )
            batches, pending_items, failed = cursor.fetchone()
            cursor.execute("SELECT count(*) FROM metrics_dirtyminute")
            dirty = cursor.fetchone()[0]
        yield GaugeMetricFamily("analytics_outbox_batches", "Outbox batches waiting", value=batches)
        yield GaugeMetricFamily(
            "analytics_outbox_items", "Items waiting in the outbox", value=pending_items
        )
        yield GaugeMetricFamily(
            "analytics_outbox_failed_batches", "Batches the database refused", value=failed
        )
        yield GaugeMetricFamily(
            "analytics_rollup_dirty_minutes", "Metric minutes waiting to be rolled up", value=dirty
        )

        depth = GaugeMetricFamily(
            "analytics_queue_depth", "Celery messages queued", labels=["queue"]
        )
        try:
            import redis

            broker = redis.Redis.from_url(settings.CELERY_BROKER_URL, socket_timeout=1)
            for queue in ("ingest", "default", "alerts"):
                depth.add_metric([queue], broker.llen(queue))
        except Exception:
            logger.debug("broker unavailable", exc_info=True)
        yield depth

        filtered = CounterMetricFamily(
            "analytics_smart_filter_points",
            "Device metric points stored or filtered by the smart filter",
            labels=["decision"],
        )
        try:
            from apps.devices.smartfilter import smart_filter_counts

            for decision, n in sorted(smart_filter_counts().items()):
                filtered.add_metric([decision], n)
        except Exception:
            logger.debug("smart filter counters unavailable", exc_info=True)
        yield filtered


def render() -> bytes:
    from prometheus_client import CollectorRegistry, generate_latest

    registry = CollectorRegistry(auto_describe=False)
    registry.register(RecordedMetricsCollector())
    registry.register(ServiceCollector())
    return generate_latest(registry)
