"""A periodic task that fails in a real worker, sent as beat sends it, is counted for its
entry and shown on /metrics; a run that succeeds ends the streak."""

import pytest

from tests.beat import outcome, send_as_beat, stack
from tests.live import Stack, wait_until

__all__ = ["stack"]  # the fixture, from tests/beat.py

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True), pytest.mark.timeout(180)]

READ = """
from apps.jobs.selectors import periodic_entries
from apps.metrics.exposition import render
sweep = next(e for e in periodic_entries() if e.name == "sweep-outbox")
print("ENTRY", sweep.failed, sweep.succeeded, sweep.failures_in_a_row, sweep.last_error)
for line in render().decode().splitlines():
    if line.startswith("analytics_periodic_task_consecutive_failures{entry=\\"sweep-outbox\\""):
        print("METRIC", line)
"""


def run_sweeps(stack: Stack, times: int) -> list[str]:
    runs = [send_as_beat(stack, "sweep-outbox")[0] for _ in range(times)]

    def outcomes():
        log = stack.log("worker", chars=1_000_000)
        found = [outcome(log, task, task_id) for _, task, task_id in runs]
        return found if all(found) else None

    return wait_until(outcomes, timeout=60, interval=0.3, what="the sweeps to finish")


def read(stack: Stack) -> tuple[list[str], str]:
    out = stack.manage_ok("shell", "-c", READ).splitlines()
    entry = next(line for line in out if line.startswith("ENTRY ")).split(" ", 4)[1:]
    metric = next(line for line in out if line.startswith("METRIC "))
    return entry, metric


def test_a_failing_periodic_task_is_counted_for_its_entry(stack):
    stack.manage_ok("setup_schedules")
    good = stack.database_url
    stack.database_url = good.rsplit("/", 1)[0] + "/no_such_database"  # the worker's only
    stack.start_worker()
    stack.database_url = good

    assert all(o.startswith("raised") for o in run_sweeps(stack, 3))
    (failed, succeeded, in_a_row, error), metric = read(stack)
    assert (failed, succeeded, in_a_row) == ("3", "0", "3")
    assert "OperationalError" in error and "no_such_database" in error
    assert metric.endswith(" 3.0")

    stack.stop("worker")
    stack.start_worker()  # the database is back
    assert run_sweeps(stack, 1) == ["succeeded"]
    (failed, succeeded, in_a_row, error), metric = read(stack)
    assert (failed, succeeded, in_a_row, error) == ("3", "1", "0", "")
    assert metric.endswith(" 0.0")
