"""Job outcomes: ingest (single, list, batch), statistics, and our own Celery tasks' outcomes."""

import pytest
from rest_framework.test import APIClient

from analytics_project.celery import app as celery_app
from apps.ingest import tasks as ingest_tasks
from apps.ingest.models import OutboxBatch
from apps.ingest.tasks import process_outbox, purge_expired
from apps.jobs.models import JobOutcome, JobStatus
from tests.helpers import ago, drain_outbox, new_id, post_json

INGEST_URL = "/api/v1/analytics/job-outcome"
URL = "/api/v1/metrics/job-outcomes"

pytestmark = pytest.mark.django_db


@pytest.fixture
def always_fails():
    """A throwaway task, registered for this test only (the registry is process-wide)."""

    @celery_app.task(name="tests.always_fails", shared=False, ignore_result=True)
    def task() -> None:
        raise ValueError("the device did not answer")

    yield task
    celery_app.tasks.unregister(task.name)


@pytest.fixture
def always_succeeds():
    @celery_app.task(name="tests.always_succeeds", shared=False, ignore_result=True)
    def task(x: int) -> int:
        return x * 2

    yield task
    celery_app.tasks.unregister(task.name)


def job(job_type: str, status: str, duration_ms: int | None = None, retry_count: int = 0, **kw):
    item = {"job_type": job_type, "status": status, "retry_count": retry_count, **kw}
    if duration_ms is not None:
        item["duration_ms"] = duration_ms
    return item


def ship(client, body, accepted: int) -> None:
    response = post_json(client, INGEST_URL, body)
    assert response.status_code == 202, response.content
    assert response.json()["accepted"] == accepted
    drain_outbox()


def test_seed_example_single_object_is_stored(ingest_client):
    ship(
        ingest_client,
        {
            "job_id": "job-456",
            "job_type": "device_restart",
            "device_id": "device-123",
            "status": "success",
            "duration_ms": 5000,
            "initiated_by": "user@example.com",
        },
        accepted=1,
    )
    row = JobOutcome.objects.get(job_id="job-456")
    assert row.job_type == "device_restart"
    assert row.device_id == "device-123"
    assert row.status == "success"
    assert row.duration_ms == 5000
    assert row.initiated_by == "user@example.com"
    assert row.retry_count == 0


def test_list_and_batch_bodies_are_all_stored(ingest_client):
    ship(ingest_client, [job("a", "success"), job("a", "failed")], accepted=2)
    ship(ingest_client, {"batch": [job("b", "timeout"), job("b", "retry")]}, accepted=2)
    assert sorted(JobOutcome.objects.values_list("job_type", "status")) == [
        ("a", "failed"),
        ("a", "success"),
        ("b", "retry"),
        ("b", "timeout"),
    ]


def test_invalid_status_is_rejected_by_index(ingest_client):
    response = post_json(ingest_client, INGEST_URL, [job("a", "success"), job("a", "exploded")])
    assert response.status_code == 202
    body = response.json()
    assert body["accepted"] == 1
    assert [r["index"] for r in body["rejected"]] == [1]
    assert "status" in body["rejected"][0]["errors"]


def test_same_event_id_twice_is_stored_once(ingest_client):
    event_id = new_id()
    ship(ingest_client, job("a", "success", event_id=event_id), accepted=1)
    ship(ingest_client, job("a", "success", event_id=event_id), accepted=1)
    assert JobOutcome.objects.count() == 1


JOBS = [
    # job_type, status, duration_ms, retries
    ("device_restart", "success", 1000, 0),
    ("device_restart", "success", 3000, 1),
    ("device_restart", "failed", 8000, 3),
    ("device_restart", "timeout", None, 2),
    ("firmware_update", "success", 60000, 0),
    ("firmware_update", "cancelled", 500, 0),
]


@pytest.fixture
def shipped(ingest_client):
    items = [job(t, s, d, r, timestamp=ago(minutes=10 + i)) for i, (t, s, d, r) in enumerate(JOBS)]
    # Outside a 24 h window: must not count.
    items.append(job("device_restart", "failed", 99999, 7, timestamp=ago(hours=30)))
    ship(ingest_client, {"batch": items}, accepted=len(items))


def expected_stats(jobs):
    durations = [d for _, _, d, _ in jobs if d is not None]
    succeeded = sum(1 for _, s, _, _ in jobs if s == "success")
    return {
        "total": len(jobs),
        "success_rate": round(succeeded / len(jobs), 4),
        "avg_duration_ms": round(sum(durations) / len(durations), 2),
        "total_retries": sum(r for *_, r in jobs),
    }


def test_status_counts_success_rate_duration_and_retries(shipped, read_client):
    response = read_client.get(URL, {"hours": 24})
    assert response.status_code == 200, response.content
    body = response.json()
    expected = expected_stats(JOBS)
    assert body["period_hours"] == 24
    assert body["total_jobs"] == 6
    assert body["status_counts"] == {
        "success": 3,
        "failed": 1,
        "timeout": 1,
        "cancelled": 1,
        "retry": 0,
        "running": 0,
    }
    assert set(body["status_counts"]) == set(JobStatus.values)
    assert body["success_rate"] == pytest.approx(expected["success_rate"])  # 0.5
    assert body["success_rate"] == 0.5
    # The timeout without a duration is not averaged in: (1000+3000+8000+60000+500)/5
    assert body["avg_duration_ms"] == pytest.approx(expected["avg_duration_ms"])
    assert body["avg_duration_ms"] == pytest.approx(14500.0)
    assert body["total_retries"] == 6


def test_by_job_type_breaks_down_each_type(shipped, read_client):
    body = read_client.get(URL, {"hours": 24}).json()
    rows = {row["job_type"]: row for row in body["by_job_type"]}
    assert set(rows) == {"device_restart", "firmware_update"}
    restart = expected_stats([j for j in JOBS if j[0] == "device_restart"])
    assert rows["device_restart"]["total"] == 4
    assert rows["device_restart"]["success_count"] == 2
    assert rows["device_restart"]["success_rate"] == pytest.approx(restart["success_rate"])
    assert rows["device_restart"]["avg_duration_ms"] == pytest.approx(restart["avg_duration_ms"])
    assert rows["device_restart"]["total_retries"] == 6
    assert rows["firmware_update"]["total"] == 2
    assert rows["firmware_update"]["success_rate"] == 0.5
    assert rows["firmware_update"]["avg_duration_ms"] == pytest.approx(30250.0)
    assert rows["firmware_update"]["total_retries"] == 0
    assert [row["job_type"] for row in body["by_job_type"]][0] == "device_restart"


def test_job_type_filter_limits_every_figure(shipped, read_client):
    body = read_client.get(URL, {"hours": 24, "job_type": "firmware_update"}).json()
    assert body["job_type"] == "firmware_update"
    assert body["total_jobs"] == 2
    assert body["status_counts"]["success"] == 1
    assert body["status_counts"]["cancelled"] == 1
    assert body["status_counts"]["failed"] == 0
    assert body["avg_duration_ms"] == pytest.approx(30250.0)
    assert [row["job_type"] for row in body["by_job_type"]] == ["firmware_update"]


def test_jobs_outside_the_window_are_excluded_and_a_wider_window_includes_them(
    shipped, read_client
):
    body = read_client.get(URL, {"hours": 48}).json()
    assert body["total_jobs"] == 7
    assert body["status_counts"]["failed"] == 2
    assert body["total_retries"] == 13


def test_empty_window_has_zero_rates_not_errors(read_client):
    body = read_client.get(URL, {"hours": 1}).json()
    assert body["total_jobs"] == 0
    assert body["success_rate"] == 0.0
    assert body["avg_duration_ms"] is None
    assert body["total_retries"] == 0
    assert body["by_job_type"] == []


@pytest.mark.parametrize("hours", ["0", "169", "abc"])
def test_hours_out_of_bounds_is_a_400_naming_hours(read_client, hours):
    response = read_client.get(URL, {"hours": hours})
    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "invalid"
    assert "hours" in body["fields"]


@pytest.mark.parametrize("query", ["job_type=", "hours=", "hours=24&job_type=", "hours=true"])
def test_an_empty_or_boolean_parameter_is_a_400_naming_it(shipped, read_client, query):
    response = read_client.get(f"{URL}?{query}")
    assert response.status_code == 400
    name = "job_type" if "job_type" in query else "hours"
    assert list(response.json()["fields"]) == [name]


def test_hours_168_is_accepted(read_client):
    assert read_client.get(URL, {"hours": 168}).status_code == 200


def test_reading_job_outcomes_needs_read_access(ingest_client, outsider):
    assert APIClient().get(URL).status_code == 401
    assert ingest_client.get(URL).status_code == 403
    session = APIClient()
    session.force_login(outsider)
    assert session.get(URL).status_code == 403


def test_own_celery_task_run_is_recorded_as_a_successful_job():
    result = purge_expired.apply()
    assert result.successful()
    row = JobOutcome.objects.get(job_id=result.id)
    assert row.job_type == "ingest.purge_expired"
    assert row.status == "success"
    assert row.initiated_by == "celery"
    assert row.error_code == ""
    assert row.retry_count == 0
    assert row.duration_ms is not None
    assert row.duration_ms >= 0


def test_failing_celery_task_is_recorded_as_failed_with_error_code(always_fails):
    result = always_fails.apply()
    assert result.failed()
    row = JobOutcome.objects.get(job_id=result.id)
    assert row.job_type == "tests.always_fails"
    assert row.status == "failed"
    assert row.error_code == "ValueError"
    assert row.error_message == "the device did not answer"
    assert row.initiated_by == "celery"


def test_each_task_run_records_its_own_outcome(always_succeeds):
    first = always_succeeds.apply((1,))
    second = always_succeeds.apply((2,))
    assert first.get() == 2
    assert second.get() == 4
    assert JobOutcome.objects.filter(job_type="tests.always_succeeds").count() == 2
    assert set(JobOutcome.objects.values_list("job_id", flat=True)) == {first.id, second.id}


def test_recorded_task_outcomes_show_up_in_job_stats(read_client, always_succeeds, always_fails):
    always_succeeds.apply((1,))
    always_fails.apply()
    body = read_client.get(URL, {"hours": 1, "job_type": "tests.always_fails"}).json()
    assert body["total_jobs"] == 1
    assert body["status_counts"]["failed"] == 1
    assert body["success_rate"] == 0.0


@pytest.mark.parametrize("task", ["process_outbox", "drain_outbox"])
def test_ingest_task_outcomes_are_not_recorded(ingest_client, task):
    response = post_json(ingest_client, INGEST_URL, job("x", "success"))
    assert response.status_code == 202
    outbox_id = OutboxBatch.objects.get().pk
    if task == "process_outbox":
        process_outbox.apply((outbox_id,))
    else:
        ingest_tasks.drain_outbox.apply()
    # The ingested item arrived; the task that moved it left no outcome of its own.
    assert list(JobOutcome.objects.values_list("job_type", flat=True)) == ["x"]
