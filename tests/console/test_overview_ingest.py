"""The overview's ingest chart has history: beat's per-minute task records the items
accepted and rejected since its previous reading as counters, and the chart opens with
their last hours (then appends the live feed's readings)."""

from datetime import datetime, timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from analytics_project.celery import app
from apps.core.redis import get_redis
from apps.ingest.buffer import buffer
from apps.ingest.counters import counts, counts_key
from apps.metrics.models import MetricPoint
from apps.monitoring.system import INGEST_COUNTERS
from tests.helpers import drain_outbox, iso, post_json

pytestmark = pytest.mark.django_db(transaction=True)

ACCEPTED, REJECTED = INGEST_COUNTERS["accepted"], INGEST_COUNTERS["rejected"]


def beat_runs_the_system_task() -> None:
    """The task of the periodic table's entry, as beat sends it (by name)."""
    name = settings.PERIODIC_TASKS["record-system-metrics"]["task"]
    app.loader.import_default_modules()  # as a worker starts: every app's tasks registered
    app.tasks[name].apply().get()


def send_events(client, *, good: int, bad: int) -> None:
    items = [{"event_type": "user_logged_in", "user_id": f"u{i}"} for i in range(good)]
    items += [{"user_id": "no-type"} for _ in range(bad)]
    answer = post_json(client, "/api/v1/analytics/events", items)
    assert answer.status_code == 202, answer.content
    assert answer.json()["accepted"] == good and len(answer.json()["rejected"]) == bad
    counts.push()  # what the web process's flusher does about once a second


def recorded(name: str) -> list[MetricPoint]:
    buffer.flush()
    drain_outbox()
    return list(MetricPoint.objects.filter(metric_name=name).order_by("timestamp"))


def test_beats_task_records_the_items_accepted_and_rejected_since_its_last_run(ingest_client):
    send_events(ingest_client, good=2, bad=1)  # before the first reading: not in a minute
    beat_runs_the_system_task()
    assert recorded(ACCEPTED) == [] and recorded(REJECTED) == []  # nothing to subtract from

    send_events(ingest_client, good=5, bad=2)
    send_events(ingest_client, good=1, bad=0)
    beat_runs_the_system_task()

    [accepted] = recorded(ACCEPTED)
    [rejected] = recorded(REJECTED)
    assert (accepted.value, rejected.value) == (6, 2)
    assert accepted.metric_type == rejected.metric_type == "counter"
    assert accepted.tags == rejected.tags == {}  # the deployment's counts, not a host's

    beat_runs_the_system_task()  # a quiet minute is a zero, not a gap
    assert [p.value for p in recorded(ACCEPTED)] == [6, 0]
    assert [p.value for p in recorded(REJECTED)] == [2, 0]


def test_a_reset_of_the_redis_counts_records_no_negative_increment(ingest_client):
    send_events(ingest_client, good=4, bad=1)
    beat_runs_the_system_task()
    get_redis().delete(counts_key())  # Redis came back without the counts
    send_events(ingest_client, good=1, bad=0)

    beat_runs_the_system_task()
    assert recorded(ACCEPTED) == [] and recorded(REJECTED) == []

    send_events(ingest_client, good=3, bad=1)  # counted from the new reading on
    beat_runs_the_system_task()
    assert [p.value for p in recorded(ACCEPTED)] == [3]
    assert [p.value for p in recorded(REJECTED)] == [1]


def test_a_reading_left_by_a_stopped_beat_is_not_a_spike(ingest_client, time_machine):
    time_machine.move_to(timezone.now())
    beat_runs_the_system_task()
    send_events(ingest_client, good=7, bad=0)
    time_machine.shift(timedelta(minutes=30))  # beat was stopped meanwhile

    beat_runs_the_system_task()
    assert recorded(ACCEPTED) == []
    send_events(ingest_client, good=2, bad=0)
    time_machine.shift(timedelta(minutes=1))
    beat_runs_the_system_task()
    assert [p.value for p in recorded(ACCEPTED)] == [2]


# --- the chart, in Chromium


def seed_counters(ingest_client) -> None:
    """Six hours of beat's counters, every 7 minutes (gaps in between), through the API."""
    now = timezone.now()
    readings = [
        {"metric_name": name, "metric_type": "counter", "value": value * (1 + i % 4),
         "timestamp": iso(now - timedelta(minutes=7 * i + 1))}
        for i in range(50)
        for name, value in ((ACCEPTED, 600), (REJECTED, 30))
    ]  # fmt: skip
    answer = post_json(ingest_client, "/api/v1/analytics/metrics/record", readings)
    assert answer.status_code == 202, answer.content
    drain_outbox()


def same(drawn: list, per_minute: list) -> bool:
    """The chart's items/s are the buckets' average per-minute increments / 60."""
    return len(drawn) == len(per_minute) and all(
        (d is None and v is None) or (d is not None and v is not None and abs(d - v / 60) < 1e-9)
        for d, v in zip(drawn, per_minute, strict=True)
    )


@pytest.mark.live
@pytest.mark.timeout(120)
def test_the_ingest_chart_opens_with_the_counters_history(
    browser, browser_superuser, ingest_client, settings
):
    settings.WS_PORT = 0  # no feed process: the page polls, its readings come after
    seed_counters(ingest_client)
    page = browser.page(user=browser_superuser)

    page.goto(browser.url("/admin/console/"))

    page.wait_for_selector("#chart-ingest .uplot")
    api = page.get_attribute("#chart-ingest .console-chart-source a", "href")
    assert "ingest.accepted_items/time-series" in api
    answer = page.evaluate(f"fetch({api!r}).then(r => r.json())")
    rejected = page.evaluate(f"fetch({api.replace(ACCEPTED, REJECTED)!r}).then(r => r.json())")
    buckets = answer["buckets"]
    assert len(buckets) >= 72 and sum(b["count"] for b in buckets) == 50
    drawn = page.evaluate("Console.charts.ingest.data")
    n = len(buckets)  # the feed's readings may follow them
    assert drawn[0][:n] == [datetime.fromisoformat(b["start"]).timestamp() for b in buckets]
    assert same(drawn[1][:n], [b["value"] for b in buckets])
    assert same(drawn[2][:n], [b["value"] for b in rejected["buckets"]])
    assert "last 6 h" in page.text_content("#chart-ingest .console-chart-title")
    assert page.evaluate("window.consoleFirstChartMs") > 0
    browser.shoot(page, "console-overview-ingest-history")


@pytest.mark.live
@pytest.mark.timeout(60)
def test_a_fresh_deployment_shows_what_fills_the_ingest_chart(browser, browser_superuser, settings):
    settings.WS_PORT = 0
    page = browser.page(user=browser_superuser)
    page.goto(browser.url("/admin/console/"))

    page.wait_for_selector("#chart-ingest .console-empty")
    assert page.locator("#chart-ingest .uplot").count() == 0
    assert "/api/v1/analytics/events" in page.text_content("#chart-ingest")
