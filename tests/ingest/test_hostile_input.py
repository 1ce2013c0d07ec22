"""Inputs an attacker or a careless client sends: each once answered 500 or stopped work.

Every test sends the bad thing through the real HTTP stack and checks the
client gets a clear JSON answer and nothing accepted is lost or doubled.
"""

import base64
import json
from urllib.parse import quote

import orjson
import pytest

from apps.errors.models import ErrorLog
from apps.events.models import Event, UserActivity
from apps.ingest.models import OutboxBatch
from apps.jobs.models import JobOutcome
from apps.requestlog.models import APIRequestLog
from tests.helpers import ago, drain_outbox, new_id, post_json

pytestmark = pytest.mark.django_db

JOBS = "/api/v1/analytics/job-outcome"


def job(**extra) -> dict:
    return {"job_type": "sync", "status": "success", **extra}


def nested(depth: int) -> dict:
    value: dict = {"leaf": 1}
    for _ in range(depth - 1):
        value = {"x": value}
    return value


# --- nesting ------------------------------------------------------------------


@pytest.mark.parametrize(
    "path, item, bag",
    [
        (JOBS, job(), "extra_data"),
        ("/api/v1/analytics/error", {"category": "api", "error_message": "e"}, "context"),
        ("/api/v1/analytics/events", {"event_type": "feed_viewed"}, "metadata"),
        ("/api/v1/analytics/user-activity", {"activity_type": "click"}, "extra_data"),
        (
            "/api/v1/analytics/device-state-change",
            {"device_id": "d1", "new_state": "on"},
            "extra_data",
        ),
    ],
)
@pytest.mark.parametrize("depth", [40, 300])
def test_deep_nesting_is_a_per_item_error_naming_the_field(ingest_client, path, item, bag, depth):
    # The standard library encodes what orjson refuses to (it stops at 254 levels).
    body = json.dumps([{**item, bag: nested(depth)}, item]).encode()

    response = post_json(ingest_client, path, body)

    assert response.status_code == 202
    answer = response.json()
    assert answer["accepted"] == 1
    [rejected] = answer["rejected"]
    assert rejected["index"] == 0
    assert rejected["errors"].keys() <= {bag, "item"}
    assert "nested" in str(rejected["errors"]).lower()


def test_nesting_within_the_bound_is_stored_whole(ingest_client):
    post_json(ingest_client, JOBS, job(extra_data=nested(30)))
    drain_outbox()

    assert JobOutcome.objects.get().extra_data == nested(30)


def test_text_that_looks_like_sql_or_placeholders_is_stored_exactly(ingest_client):
    text = 'it\'s \\ "quoted" %s %(x)s $1 ?; DROP TABLE x; -- \u2028 \U0001f600 \t end'
    post_json(ingest_client, JOBS, job(error_message=text, extra_data={"q": text, text: 1}))
    drain_outbox()

    stored = JobOutcome.objects.get()
    assert stored.error_message == text
    assert stored.extra_data == {"q": text, text: 1}


def test_nesting_beyond_what_json_parsing_allows_is_a_400(ingest_client):
    raw = b'{"job_type": "x", "status": "success", "extra_data": ' + b"[" * 2000 + b"]" * 2000
    response = post_json(ingest_client, JOBS, raw + b"}")

    assert response.status_code == 400
    assert response.json()["error"] == "invalid"


# --- timestamps -----------------------------------------------------------------


@pytest.mark.parametrize(
    "moment", ["9999-12-31T23:59:59-01:00", "0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59Z"]
)
def test_timestamps_that_overflow_in_utc_are_per_item_errors(ingest_client, moment):
    response = post_json(ingest_client, JOBS, [job(timestamp=moment), job()])

    assert response.status_code == 202
    assert response.json()["accepted"] == 1
    assert response.json()["rejected"][0]["errors"].keys() == {"timestamp"}


# --- NUL in what a reader sends -----------------------------------------------------


@pytest.mark.parametrize(
    "url, field",
    [
        ("/api/v1/analytics/metrics/cpu/statistics?tag=a:%00", "tag"),
        ("/api/v1/analytics/metrics/cpu/time-series?tag=host:a%00b", "tag"),
        ("/api/v1/analytics/metrics/c%00pu/statistics", "name"),
        ("/api/v1/metrics/device-state-history/dev%00ice", "device_id"),
        ("/api/v1/metrics/api-performance?endpoint=/x%00", "endpoint"),
        ("/api/v1/metrics/job-outcomes?job_type=%00", "job_type"),
        ("/api/v1/analytics/events?user_id=u%00", "user_id"),
        ("/api/v1/metrics/error-trends?hours=2%00", "hours"),
    ],
)
def test_nul_in_a_read_parameter_is_a_400_naming_it(read_client, url, field):
    response = read_client.get(url)

    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "invalid"
    assert field in body["fields"]


# --- event cursors --------------------------------------------------------------------


@pytest.mark.parametrize(
    "decoded", ["p=notadate", "p=2026-13-45T99:00:00", "o=5&p=", "r=1&p=%00", "p=1e999"]
)
def test_a_crafted_events_cursor_is_a_404_not_a_500(read_client, decoded):
    cursor = base64.b64encode(decoded.encode()).decode()

    response = read_client.get(f"/api/v1/analytics/events?cursor={quote(cursor)}")

    assert response.status_code in (400, 404)
    assert response.json()["error"] in ("not_found", "invalid")


def test_a_genuine_cursor_still_pages(ingest_client, read_client):
    post_json(
        ingest_client,
        "/api/v1/analytics/events",
        [{"event_type": "feed_viewed", "timestamp": ago(minutes=i)} for i in range(3)],
    )
    drain_outbox()

    first = read_client.get("/api/v1/analytics/events?page_size=2").json()
    second = read_client.get(first["next"]).json()

    assert len(first["results"]) == 2 and len(second["results"]) == 1


# --- bodies: NDJSON ------------------------------------------------------------------


def test_ndjson_body_is_one_item_per_line(ingest_client):
    lines = b"\n".join(orjson.dumps(job(job_id=f"n{i}")) for i in range(3))
    body = lines + b"\n\n{not json}\n" + orjson.dumps({"status": "success"}) + b"\n"

    response = ingest_client.generic(
        "POST", JOBS, body, content_type="application/x-ndjson; charset=utf-8"
    )

    assert response.status_code == 202
    answer = response.json()
    assert answer["accepted"] == 3
    assert [r["index"] for r in answer["rejected"]] == [3, 4]
    assert "Malformed JSON" in answer["rejected"][0]["errors"]["item"][0]
    assert answer["rejected"][1]["errors"].keys() == {"job_type"}
    drain_outbox()
    assert sorted(JobOutcome.objects.values_list("job_id", flat=True)) == ["n0", "n1", "n2"]


def test_ndjson_with_more_than_1000_lines_is_413(ingest_client):
    body = b"\n".join([orjson.dumps(job())] * 1001)

    response = ingest_client.generic("POST", JOBS, body, content_type="application/x-ndjson")

    assert response.status_code == 413


# --- event ids and duplicates ------------------------------------------------------------


def test_the_nil_uuid_is_refused_per_item(ingest_client):
    nil = "00000000-0000-0000-0000-000000000000"

    answer = post_json(ingest_client, JOBS, [job(event_id=nil), job(event_id=nil)]).json()

    assert answer["accepted"] == 0
    assert all(r["errors"].keys() == {"event_id"} for r in answer["rejected"])
    assert "nil" in answer["rejected"][0]["errors"]["event_id"][0]


def test_a_repeated_event_id_in_one_request_counts_as_a_duplicate(ingest_client):
    same = new_id()
    items = [job(event_id=same, job_id="first"), job(event_id=same, job_id="second"), job()]

    answer = post_json(ingest_client, JOBS, items).json()

    assert (answer["accepted"], answer["duplicates"], answer["rejected"]) == (2, 1, [])
    drain_outbox()
    assert JobOutcome.objects.get(event_id=same).job_id == "first"  # the first one wins


def prometheus_count(client, kind: str, outcome: str) -> float:
    text = client.get("/metrics").content.decode()
    sample = f'analytics_ingest_items_total{{kind="{kind}",outcome="{outcome}"}}'
    for line in text.splitlines():
        if line.startswith(sample):
            return float(line.split()[-1])
    return 0.0


def test_an_event_id_already_stored_is_dropped_and_counted_for_prometheus(
    ingest_client, read_client
):
    items = [job(event_id=new_id(), job_id=f"j{i}") for i in range(3)]
    post_json(ingest_client, JOBS, items)
    drain_outbox()
    before = prometheus_count(read_client, "job_outcome", "duplicate")

    changed = [{**item, "job_id": "changed"} for item in items]  # same ids, other content
    assert post_json(ingest_client, JOBS, changed).json()["accepted"] == 3
    drain_outbox()

    assert sorted(JobOutcome.objects.values_list("job_id", flat=True)) == ["j0", "j1", "j2"]
    assert prometheus_count(read_client, "job_outcome", "duplicate") - before == 3


def test_a_batch_mixing_stored_and_new_event_ids_stores_only_the_new_ones(
    ingest_client, read_client
):
    # The worker first puts a batch's keys in without skipping kept ones (fast); a kept one
    # undoes that try, and the batch is stored by the statement that skips them.
    kept = [job(event_id=new_id(), job_id=f"kept{i}") for i in range(2)]
    post_json(ingest_client, JOBS, kept)
    drain_outbox()
    before = prometheus_count(read_client, "job_outcome", "duplicate")

    fresh = [job(event_id=new_id(), job_id=f"new{i}") for i in range(3)]
    retried = [{**item, "job_id": "changed"} for item in kept]
    assert post_json(ingest_client, JOBS, [fresh[0], *retried, *fresh[1:]]).json()["accepted"] == 5
    drain_outbox()

    assert sorted(JobOutcome.objects.values_list("job_id", flat=True)) == [
        "kept0",
        "kept1",
        "new0",
        "new1",
        "new2",
    ]
    assert prometheus_count(read_client, "job_outcome", "duplicate") - before == 2
    assert not OutboxBatch.objects.exists()


# --- addresses -------------------------------------------------------------------------


def test_ipv4_mapped_addresses_are_anonymized_as_ipv4(ingest_client):
    log = {"endpoint": "/x", "method": "GET", "status_code": 200, "response_time_ms": 1}
    items = [{**log, "client_ip": "::ffff:203.0.113.77"}, {**log, "client_ip": "203.0.113.9"}]

    post_json(ingest_client, "/api/v1/analytics/requests", items)
    drain_outbox()

    assert set(APIRequestLog.objects.values_list("client_ip", flat=True)) == {"203.0.113.0"}


# --- fields the old clients send, and fields nobody knows ----------------------------------


@pytest.mark.parametrize(
    "path, item, model, bag",
    [
        (JOBS, job(), JobOutcome, "extra_data"),
        (
            "/api/v1/analytics/device-state-change",
            {"device_id": "d1", "new_state": "online"},
            "devices.DeviceStateHistory",
            "extra_data",
        ),
        (
            "/api/v1/analytics/user-activity",
            {"activity_type": "page_view"},
            UserActivity,
            "extra_data",
        ),
        (
            "/api/v1/analytics/error",
            {"category": "api", "error_message": "x"},
            ErrorLog,
            "context",
        ),
    ],
)
def test_metadata_from_old_clients_is_kept_in_the_kinds_bag(ingest_client, path, item, model, bag):
    from django.apps import apps

    model = apps.get_model(model) if isinstance(model, str) else model
    body = {**item, "metadata": {"retries": 2, "password": "p"}, bag: {"results": 5}}

    assert post_json(ingest_client, path, body).json()["accepted"] == 1
    drain_outbox()

    assert getattr(model.objects.get(), bag) == {
        "retries": 2,
        "password": "[redacted]",
        "results": 5,
    }


@pytest.mark.parametrize(
    "path, item",
    [
        (JOBS, job()),
        ("/api/v1/analytics/error", {"category": "api", "error_message": "x"}),
        ("/api/v1/analytics/events", {"event_type": "feed_viewed"}),
        ("/api/v1/analytics/user-activity", {"activity_type": "click"}),
        ("/api/v1/analytics/device-state-change", {"device_id": "d", "new_state": "on"}),
        ("/api/v1/analytics/device-metrics", {"device_id": "d", "metrics": {"t": 1}}),
        (
            "/api/v1/analytics/requests",
            {"endpoint": "/x", "method": "GET", "status_code": 200, "response_time_ms": 1},
        ),
        ("/api/v1/analytics/metrics/record", {"metric_name": "m", "value": 1}),
        ("/api/v1/analytics/batch", {"kind": "job_outcome", **job()}),
    ],
)
def test_an_unknown_top_level_field_is_refused_naming_it(ingest_client, path, item):
    answer = post_json(ingest_client, path, [{**item, "duraton_ms": 5}, item]).json()

    assert answer["accepted"] == 1
    [rejected] = answer["rejected"]
    assert rejected["errors"].keys() == {"duraton_ms"}
    assert "Unknown field" in rejected["errors"]["duraton_ms"][0]


# --- what a signed-in session may write ------------------------------------------------------


def test_a_session_writes_activity_events_and_errors_as_itself(outsider):
    from rest_framework.test import APIClient

    client = APIClient()
    client.force_login(outsider)
    someone_else = {"user_id": "victim"}

    for path, item in [
        ("/api/v1/analytics/user-activity", {"activity_type": "click", **someone_else}),
        ("/api/v1/analytics/events", {"event_type": "feed_viewed", **someone_else}),
        ("/api/v1/analytics/error", {"category": "frontend", "error_message": "x", **someone_else}),
    ]:
        assert post_json(client, path, item).status_code == 202
    drain_outbox()

    me = str(outsider.pk)
    assert UserActivity.objects.get().user_id == me
    assert Event.objects.get().user_id == me
    assert ErrorLog.objects.get().user_id == me


@pytest.mark.parametrize(
    "path, item",
    [
        (
            "/api/v1/analytics/requests",
            {"endpoint": "/x", "method": "GET", "status_code": 200, "response_time_ms": 1},
        ),
        (JOBS, job()),
        ("/api/v1/analytics/metrics/record", {"metric_name": "m", "value": 1}),
        ("/api/v1/analytics/device-metrics", {"device_id": "d", "metrics": {"t": 1}}),
    ],
)
def test_a_session_cannot_write_other_kinds(staff_user, path, item):
    from rest_framework.test import APIClient

    client = APIClient()
    client.force_login(staff_user)

    response = post_json(client, path, item)

    assert response.status_code == 403
    assert response.json()["error"] == "permission_denied"
    assert not OutboxBatch.objects.exists()


def test_a_session_batch_keeps_only_the_kinds_a_session_may_write(outsider):
    from rest_framework.test import APIClient

    client = APIClient()
    client.force_login(outsider)
    items = [
        {"kind": "user_activity", "activity_type": "click"},
        {
            "kind": "request_log",
            "endpoint": "/x",
            "method": "GET",
            "status_code": 200,
            "response_time_ms": 1,
            "user_id": "victim",
        },
    ]

    answer = post_json(client, "/api/v1/analytics/batch", items).json()

    assert answer["accepted"] == 1
    assert answer["rejected"][0]["index"] == 1
    assert "ingest key" in answer["rejected"][0]["errors"]["kind"][0]


@pytest.mark.parametrize(
    "path, item, field",
    [
        (JOBS, job(duration_ms=True), "duration_ms"),
        (JOBS, job(retry_count=False), "retry_count"),
        (
            "/api/v1/analytics/requests",
            {"endpoint": "/x", "method": "GET", "status_code": 200, "response_time_ms": True},
            "response_time_ms",
        ),
        (
            "/api/v1/analytics/user-activity",
            {"activity_type": "click", "duration_ms": True},
            "duration_ms",
        ),
    ],
)
def test_a_boolean_is_not_a_number(ingest_client, path, item, field):
    answer = post_json(ingest_client, path, item).json()

    assert answer["accepted"] == 0
    assert answer["rejected"][0]["errors"].keys() == {field}


def test_the_document_shows_that_metadata_is_accepted(read_client):
    schema = read_client.get("/api/schema/?format=json").json()["components"]["schemas"]

    for name in ("JobOutcomeIn", "UserActivityIn", "DeviceStateChangeIn", "ErrorIn"):
        assert "metadata" in schema[name]["properties"], name
