"""This machine's figures, recorded as gauges the metrics engine rolls up and alerts on."""

import pytest

from apps.metrics.models import MetricPoint
from apps.metrics.selectors import metric_statistics
from apps.monitoring.system import system_metrics_record
from apps.monitoring.tasks import record_system_metrics
from tests.helpers import drain_outbox

pytestmark = pytest.mark.django_db(transaction=True)

NAMES = {
    "system.cpu_percent",
    "system.memory_percent",
    "system.memory_used_gb",
    "system.memory_total_gb",
    "system.disk_percent",
    "system.uptime_seconds",
    "system.load_1m",
}


def flush_buffer() -> None:
    from apps.ingest.buffer import buffer

    buffer.flush()
    drain_outbox()


def test_the_task_records_every_system_figure_as_a_gauge():
    record_system_metrics.apply()
    flush_buffer()

    points = {p.metric_name: p for p in MetricPoint.objects.all()}
    assert set(points) == NAMES
    assert all(p.metric_type == "gauge" and "host" in p.tags for p in points.values())
    assert 0 <= points["system.cpu_percent"].value <= 100
    assert 0 < points["system.memory_used_gb"].value <= points["system.memory_total_gb"].value
    assert points["system.uptime_seconds"].value > 0
    stats = metric_statistics(name="system.memory_percent", hours=1)
    assert stats["count"] == 1 and 0 < stats["avg"] <= 100


def test_the_figures_returned_are_the_ones_recorded():
    figures = system_metrics_record()
    flush_buffer()
    assert {f"system.{name}" for name in figures} == NAMES
    recorded = MetricPoint.objects.get(metric_name="system.disk_percent").value
    assert recorded == figures["disk_percent"]
