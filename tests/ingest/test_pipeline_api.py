"""The write pipeline, through the real HTTP stack: shapes, limits, idempotency."""

import gzip

import orjson
import pytest

from apps.errors.models import ErrorLog
from apps.ingest.models import OutboxBatch
from apps.jobs.models import JobOutcome
from tests.helpers import ago, drain_outbox, new_id, post_json

pytestmark = pytest.mark.django_db

JOBS = "/api/v1/analytics/job-outcome"


def job(**extra) -> dict:
    return {"job_type": "device_restart", "status": "success", "duration_ms": 5000, **extra}


def test_single_object_is_committed_to_the_outbox_then_stored(ingest_client):
    response = post_json(ingest_client, JOBS, job(job_id="job-456", device_id="device-123"))

    assert response.status_code == 202
    assert response.json() == {"accepted": 1, "duplicates": 0, "rejected": []}
    assert OutboxBatch.objects.get().item_count == 1  # durable before the 202
    drain_outbox()
    stored = JobOutcome.objects.get()
    assert (stored.job_id, stored.device_id, stored.duration_ms) == ("job-456", "device-123", 5000)
    assert not OutboxBatch.objects.exists()


@pytest.mark.parametrize("shape", ["list", "batch"])
def test_list_and_batch_bodies_are_one_outbox_row(ingest_client, shape):
    items = [job(job_id=f"j{i}") for i in range(3)]
    body = items if shape == "list" else {"batch": items}

    response = post_json(ingest_client, JOBS, body)

    assert response.json() == {"accepted": 3, "duplicates": 0, "rejected": []}
    assert OutboxBatch.objects.count() == 1
    drain_outbox()
    assert sorted(JobOutcome.objects.values_list("job_id", flat=True)) == ["j0", "j1", "j2"]


def test_invalid_items_are_reported_by_index_and_valid_ones_kept(ingest_client):
    items = [job(), {"job_type": "x", "status": "exploded"}, "not an object", job(duration_ms=-1)]

    response = post_json(ingest_client, JOBS, {"batch": items})

    assert response.status_code == 202
    body = response.json()
    assert body["accepted"] == 1
    assert [r["index"] for r in body["rejected"]] == [1, 2, 3]
    assert "status" in body["rejected"][0]["errors"]
    assert "duration_ms" in body["rejected"][2]["errors"]
    drain_outbox()
    assert JobOutcome.objects.count() == 1


def test_all_invalid_is_400_and_nothing_is_written(ingest_client):
    response = post_json(ingest_client, JOBS, [{"status": "success"}, {"job_type": "x"}])

    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "invalid"
    assert body["accepted"] == 0
    assert body["rejected"][0]["errors"] == {"job_type": ["Field required"]}
    assert not OutboxBatch.objects.exists()


@pytest.mark.parametrize(
    "raw, detail",
    [
        (b"{not json", "Malformed JSON"),
        (b"", "empty"),
        (b"[]", "empty"),
        (b'{"batch": []}', "empty"),
        (b'{"batch": {"a": 1}}', "must be a list"),
    ],
)
def test_malformed_or_empty_bodies_are_400(ingest_client, raw, detail):
    response = post_json(ingest_client, JOBS, raw)

    assert response.status_code == 400
    assert response.json()["error"] == "invalid"
    assert detail in response.json()["detail"]


def test_wrong_content_type_is_415(ingest_client):
    response = ingest_client.generic("POST", JOBS, b"job_type=x", content_type="text/csv")

    assert response.status_code == 415
    assert response.json()["error"] == "unsupported_media_type"


def test_body_over_one_mib_is_413(ingest_client):
    filler = "x" * 1000
    items = [job(error_message=filler) for _ in range(1100)]

    response = post_json(ingest_client, JOBS, items)

    assert response.status_code == 413
    assert response.json()["error"] == "payload_too_large"


def test_gzip_body_is_inflated_and_accepted(ingest_client):
    response = post_json(ingest_client, JOBS, [job(), job()], gzip_body=True)

    assert response.json() == {"accepted": 2, "duplicates": 0, "rejected": []}


def test_gzip_bomb_is_413_on_the_inflated_size(ingest_client):
    bomb = orjson.dumps([job(error_message=" " * 30_000) for _ in range(60)])
    assert len(gzip.compress(bomb)) < 100_000 < 1024 * 1024 < len(bomb)

    response = post_json(ingest_client, JOBS, bomb, gzip_body=True)

    assert response.status_code == 413


def test_corrupt_gzip_is_400(ingest_client):
    response = post_json(
        ingest_client, JOBS, b"\x1f\x8bnot really gzip", HTTP_CONTENT_ENCODING="gzip"
    )

    assert response.status_code == 400


def test_more_than_1000_items_is_413(ingest_client):
    response = post_json(ingest_client, JOBS, [{"a": 1}] * 1001)

    assert response.status_code == 413
    assert "1000" in response.json()["detail"]


def test_item_over_32_kib_is_rejected_alone(ingest_client):
    response = post_json(ingest_client, JOBS, [job(error_message="e" * 33_000), job()])

    assert response.json()["accepted"] == 1
    assert response.json()["rejected"][0]["index"] == 0


def test_timestamps_far_in_the_future_or_past_retention_are_field_errors(ingest_client, settings):
    settings.ANALYTICS_RETENTION_BY_KIND = {
        **settings.ANALYTICS_RETENTION_BY_KIND,
        "job_outcome": 30,
    }
    items = [
        job(timestamp=ago(hours=-2)),  # two hours ahead
        job(timestamp=ago(days=31)),
        job(timestamp=ago(days=29)),
        job(timestamp="yesterday-ish"),
        job(timestamp="2026-11-22T10:00:00"),  # naive: read as UTC
    ]

    body = post_json(ingest_client, JOBS, items).json()

    assert [r["index"] for r in body["rejected"]] == [0, 1, 3]
    assert "future" in body["rejected"][0]["errors"]["timestamp"][0]
    assert "retention" in body["rejected"][1]["errors"]["timestamp"][0]


def test_nul_characters_are_rejected_per_item(ingest_client):
    body = post_json(ingest_client, JOBS, [job(job_id="a\u0000b"), job()]).json()

    assert body["accepted"] == 1
    assert body["rejected"][0]["index"] == 0


def test_the_same_batch_sent_three_times_is_stored_once(ingest_client):
    items = [job(event_id=new_id(), job_id=f"j{i}") for i in range(50)]

    for _ in range(3):
        assert post_json(ingest_client, JOBS, {"batch": items}).status_code == 202
    drain_outbox()

    assert JobOutcome.objects.count() == 50
    assert set(map(str, JobOutcome.objects.values_list("event_id", flat=True))) == {
        i["event_id"] for i in items
    }


def test_processing_an_outbox_row_twice_inserts_once(ingest_client):
    from apps.ingest.outbox import outbox_process

    post_json(ingest_client, JOBS, [job(), job()])
    outbox_id = OutboxBatch.objects.get().pk

    assert outbox_process(outbox_id=outbox_id) == 2
    assert outbox_process(outbox_id=outbox_id) == 0
    assert JobOutcome.objects.count() == 2


def test_server_assigns_event_ids_and_received_at(ingest_client):
    post_json(ingest_client, JOBS, [job(), job()])
    drain_outbox()

    rows = list(JobOutcome.objects.all())
    assert len({r.event_id for r in rows}) == 2
    assert all(r.received_at is not None for r in rows)


def test_invalid_event_id_is_a_field_error(ingest_client):
    body = post_json(ingest_client, JOBS, [job(event_id="not-a-uuid"), job()]).json()

    assert body["rejected"][0]["errors"].keys() == {"event_id"}


def test_secrets_are_scrubbed_before_storage(ingest_client):
    post_json(
        ingest_client,
        "/api/v1/analytics/error",
        {
            "category": "api",
            "error_message": "login failed for password=hunter2",
            "stack_trace": 'File "x.py"\n  headers={"Authorization": "Bearer abc.def"}',
            "context": {"url": "/x", "cookie": "s=1", "deep": [{"API_KEY": "k", "ok": 1}]},
        },
    )
    drain_outbox()

    error = ErrorLog.objects.get()
    assert "hunter2" not in error.error_message
    assert "abc.def" not in error.stack_trace
    assert error.context == {
        "url": "/x",
        "cookie": "[redacted]",
        "deep": [{"API_KEY": "[redacted]", "ok": 1}],
    }


def test_mixed_batch_routes_each_item_by_kind(ingest_client):
    items = [
        {"kind": "job_outcome", **job()},
        {"kind": "error", "category": "database", "error_message": "deadlock"},
        {"kind": "device-state-change", "device_id": "d1", "new_state": "online"},
        {"kind": "teleport"},
        {"no_kind": True},
    ]

    body = post_json(ingest_client, "/api/v1/analytics/batch", items).json()

    assert body["accepted"] == 3
    assert [r["index"] for r in body["rejected"]] == [3, 4]
    assert OutboxBatch.objects.count() == 3  # one row per kind, one insert
    drain_outbox()
    assert JobOutcome.objects.count() == ErrorLog.objects.count() == 1


def test_request_logs_from_other_services_have_their_ips_anonymized(ingest_client):
    from apps.requestlog.models import APIRequestLog

    log = {
        "service": "billing",
        "endpoint": "/invoices",
        "method": "GET",
        "status_code": 200,
        "response_time_ms": 12.5,
    }
    items = [
        {**log, "client_ip": "198.51.100.23"},
        {**log, "client_ip": "2001:db8:1234:5678::1"},
        {**log, "client_ip": "not-an-ip"},
    ]
    body = post_json(ingest_client, "/api/v1/analytics/requests", items).json()
    drain_outbox()

    assert [r["index"] for r in body["rejected"]] == [2]
    assert sorted(APIRequestLog.objects.values_list("client_ip", flat=True)) == [
        "198.51.100.0",
        "2001:db8:1234::",
    ]


def test_a_row_the_database_refuses_is_parked_alone(ingest_client):
    from apps.ingest.outbox import outbox_process

    post_json(ingest_client, JOBS, [job(job_id="good-1"), job(job_id="bad"), job(job_id="good-2")])
    batch = OutboxBatch.objects.get()
    # Simulate a row that passed validation but that the database refuses.
    rows = orjson.loads(batch.payload)
    rows[1]["status"] = None
    batch.payload = orjson.dumps(rows).decode()
    batch.save()

    assert outbox_process(outbox_id=batch.pk) == 2

    assert sorted(JobOutcome.objects.values_list("job_id", flat=True)) == ["good-1", "good-2"]
    parked = OutboxBatch.objects.get()
    assert parked.failed_at is not None and parked.item_count == 1
    assert "bad" in parked.payload and "null" in parked.last_error


def test_a_backlog_of_one_item_batches_is_stored_by_one_task_each_item_once(ingest_client):
    """An SDK sends one event a request: the task of the first batch also stores the small
    batches of its kind waiting behind it, in one statement; their own tasks find them
    gone. A retried request (the same event_id in two batches) is stored once."""
    from apps.ingest.outbox import outbox_process

    items = [job(event_id=new_id(), job_id=f"j{i}") for i in range(30)]
    for item in [*items, items[0]]:
        assert post_json(ingest_client, JOBS, item).status_code == 202
    post_json(ingest_client, "/api/v1/analytics/error", {"category": "api", "error_message": "x"})
    ids = sorted(OutboxBatch.objects.filter(kind="job_outcome").values_list("id", flat=True))

    assert outbox_process(outbox_id=ids[0]) == 30
    assert list(OutboxBatch.objects.values_list("kind", flat=True)) == ["error"]  # not its kind
    assert [outbox_process(outbox_id=i) for i in ids[1:]] == [0] * 30
    assert sorted(JobOutcome.objects.values_list("job_id", flat=True)) == sorted(
        item["job_id"] for item in items
    )


def test_a_refused_row_among_coalesced_batches_is_parked_alone(ingest_client):
    from apps.ingest.outbox import outbox_process

    for job_id in ("good-1", "bad", "good-2"):
        post_json(ingest_client, JOBS, job(job_id=job_id))
    bad = OutboxBatch.objects.get(payload__contains='"bad"')
    rows = orjson.loads(bad.payload)
    rows[0]["status"] = None  # passed validation, refused by the database
    bad.payload = orjson.dumps(rows).decode()
    bad.save()

    assert outbox_process(outbox_id=OutboxBatch.objects.order_by("id")[0].pk) == 2

    assert sorted(JobOutcome.objects.values_list("job_id", flat=True)) == ["good-1", "good-2"]
    parked = OutboxBatch.objects.get()
    assert parked.failed_at is not None and "bad" in parked.payload
