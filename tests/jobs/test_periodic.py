"""A periodic task that fails is seen: counted on /metrics, a degraded then failing
`periodic-tasks` check that names it, and a gauge for charts and rules."""

from io import StringIO

import pytest
from django.conf import settings
from django.core.management import call_command

from analytics_project.celery import app as celery_app
from apps.core.services import MANAGED_PREFIX
from apps.ingest.buffer import buffer
from apps.ingest.outbox import outbox_write
from apps.jobs.selectors import periodic_entries
from apps.metrics.models import MetricPoint
from tests.helpers import drain_outbox

pytestmark = pytest.mark.django_db

SWEEP = "sweep-outbox"


@pytest.fixture
def flaky():
    """A task that fails while `failing` holds; run as beat runs an entry (its header)."""
    state = {"failing": True}

    @celery_app.task(name="tests.flaky_periodic", shared=False, ignore_result=True)
    def task() -> None:
        if state["failing"]:
            raise ConnectionError("the database did not answer")

    def run(entry: str = SWEEP) -> None:
        task.apply(headers={"periodic_task_name": f"{MANAGED_PREFIX}{entry}"})

    run.state = state
    yield run
    celery_app.tasks.unregister(task.name)


def entry(name: str):
    return next(e for e in periodic_entries() if e.name == name)


def check(name: str = "periodic-tasks") -> str:
    out = StringIO()
    call_command("install_monitoring_checks", stdout=StringIO())
    call_command("run_health_checks", "--once", stdout=out)
    return dict(line.split(": ", 1) for line in out.getvalue().splitlines())[name]


def test_failures_in_a_row_are_counted_and_a_success_ends_the_streak(flaky):
    flaky()
    flaky()
    sweep = entry(SWEEP)
    assert (sweep.failed, sweep.failures_in_a_row) == (2, 2)
    assert sweep.last_error == "ConnectionError: the database did not answer"

    flaky.state["failing"] = False
    flaky()
    sweep = entry(SWEEP)
    assert (sweep.succeeded, sweep.failed, sweep.failures_in_a_row, sweep.last_error) == (
        1,
        2,
        0,
        "",
    )
    # Every other entry is listed too, untouched.
    assert {e.name for e in periodic_entries()} == set(settings.PERIODIC_TASKS)
    assert entry("rollup-metrics").failures_in_a_row == 0


def test_a_task_not_sent_by_beat_does_not_count(flaky):

    celery_app.tasks["tests.flaky_periodic"].apply()
    assert entry(SWEEP).failed == 0


def test_the_streak_is_a_gauge_for_rules_and_charts(flaky):
    buffer.take()
    flaky()
    flaky()
    flaky.state["failing"] = False
    flaky()
    flaky()  # a healthy run after a healthy run records nothing more
    outbox_write(batches=buffer.take())  # what the process's flusher does each second
    drain_outbox()
    points = MetricPoint.objects.filter(metric_name="jobs.periodic_consecutive_failures")
    assert list(points.order_by("timestamp", "id").values_list("value", flat=True)) == [1, 2, 0]
    assert {p.tags["entry"] for p in points} == {SWEEP}


def test_metrics_expose_runs_and_streaks(flaky, read_client):
    flaky()
    body = read_client.get("/metrics").content.decode()
    assert (
        'analytics_periodic_task_runs_total{entry="sweep-outbox",outcome="failed",'
        'task="ingest.sweep_outbox"} 1.0' in body
    )
    assert (
        'analytics_periodic_task_consecutive_failures{entry="sweep-outbox",'
        'task="ingest.sweep_outbox"} 1.0' in body
    )
    assert 'analytics_periodic_task_consecutive_failures{entry="rollup-metrics"' in body


@pytest.mark.django_db(transaction=True)  # checks run in threads, on their own connections
def test_the_periodic_tasks_check_is_degraded_then_fails_naming_the_task(flaky, settings):
    settings.PERIODIC_TASK_FAILURES_ALERT = 3
    assert check().startswith("healthy")
    flaky()
    said = check()
    assert said.startswith("degraded")
    assert "sweep-outbox failed 1 time(s) in a row: ConnectionError" in said
    flaky()
    flaky()
    said = check()
    assert said.startswith("unhealthy")
    assert "sweep-outbox failed 3 time(s) in a row" in said
    flaky.state["failing"] = False
    flaky()
    assert check().startswith("healthy")


@pytest.mark.django_db(transaction=True)
def test_a_task_that_keeps_failing_opens_an_incident_naming_it(flaky, settings):
    # The sweeper raised every 30 s for weeks and nothing acted on it: now the built-in
    # `periodic-tasks` check fails, and its rule opens an incident like any service's.
    from apps.alerts.models import AlertIncident

    settings.PERIODIC_TASK_FAILURES_ALERT = 3
    for _ in range(3):
        flaky()
    assert check().startswith("unhealthy")  # its failure_threshold is 1: failing is sustained
    incident = AlertIncident.objects.get(rule_name="Service periodic-tasks is down")
    assert incident.status == "open"
    assert "sweep-outbox failed 3 time(s) in a row" in incident.timeline.get(kind="fired").detail

    flaky.state["failing"] = False
    flaky()
    assert check().startswith("healthy")
    incident.refresh_from_db()
    assert incident.status == "resolved"
