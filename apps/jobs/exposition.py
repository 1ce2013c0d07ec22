"""Beat's entries on /metrics: runs by outcome and failures in a row, per entry."""

import logging

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from redis import RedisError

from .selectors import periodic_entries

logger = logging.getLogger(__name__)


class PeriodicTasksCollector:
    def collect(self):
        try:
            entries = periodic_entries()
        except (RedisError, OSError):  # the scrape goes on without them
            logger.debug("periodic task counts unavailable", exc_info=True)
            return
        runs = CounterMetricFamily(
            "analytics_periodic_task_runs",
            "Runs of each periodic task that beat sent, by outcome, since Redis last started",
            labels=["entry", "task", "outcome"],
        )
        in_a_row = GaugeMetricFamily(
            "analytics_periodic_task_consecutive_failures",
            "Failures in a row of each periodic task (0 after a success)",
            labels=["entry", "task"],
        )
        for entry in entries:
            runs.add_metric([entry.name, entry.task, "succeeded"], entry.succeeded)
            runs.add_metric([entry.name, entry.task, "failed"], entry.failed)
            in_a_row.add_metric([entry.name, entry.task], entry.failures_in_a_row)
        yield runs
        yield in_a_row
