"""Requests the replaced systems documented, sent as their clients send them."""

import pytest
from pydantic import BaseModel

from apps.ai.models import KnowledgeDocument
from apps.devices.models import DeviceStateHistory
from apps.events.models import Event, UserActivity
from apps.ingest.registry import all_kinds, get_kind
from apps.metrics.models import MetricPoint
from tests.helpers import ago, drain_outbox, new_id, post_json

pytestmark = pytest.mark.django_db

API = "/api/v1/analytics"
# Each kind's endpoint and the least a valid item holds (its required fields).
MINIMAL = {
    "request_log": ("requests", {"endpoint": "/x", "method": "GET", "status_code": 200,
                                 "response_time_ms": 5}),
    "user_activity": ("user-activity", {"activity_type": "page_view"}),
    "event": ("events", {"event_type": "memory_posted"}),
    "device_state": ("device-state-change", {"device_id": "d1", "new_state": "online"}),
    "device_metric": ("device-metrics", {"device_id": "d1", "metrics": {"temp": 20}}),
    "job_outcome": ("job-outcome", {"job_type": "sync", "status": "success"}),
    "error": ("error", {"category": "api", "error_message": "boom"}),
    "metric": ("metrics/record", {"metric_name": "queue_depth", "value": 3}),
    "ai_usage": ("log-ai-usage", {"feature": "quiz"}),
}  # fmt: skip


def input_names(schema: type[BaseModel], *, required: bool) -> list[str]:
    """The body keys of a schema's (not) required fields, aliases included."""
    names = []
    for name, field in schema.model_fields.items():
        if field.is_required() != required:
            continue
        alias = field.validation_alias
        names.extend(getattr(alias, "choices", None) or [name])
    return names


def test_every_kind_has_a_minimal_item_here():
    assert set(MINIMAL) == {kind.name for kind in all_kinds()}


def test_a_page_view_without_a_stored_session_sends_null_and_is_kept(ingest_client):
    # The old frontend: session_id: sessionStorage.getItem('session_id'), null when none.
    body = {"activity_type": "page_view", "page_url": "/home", "session_id": None,
            "user_id": None, "duration_ms": None, "metadata": None}  # fmt: skip
    response = post_json(ingest_client, f"{API}/user-activity", body)

    assert response.status_code == 202, response.json()
    assert response.json()["accepted"] == 1
    drain_outbox()
    view = UserActivity.objects.get()
    assert (view.page_url, view.session_id, view.user_id) == ("/home", "", "")


@pytest.mark.parametrize("kind", sorted(MINIMAL))
@pytest.mark.parametrize("route", ["endpoint", "batch"])
def test_every_optional_field_sent_as_null_is_absent(ingest_client, kind, route):
    endpoint, minimal = MINIMAL[kind]
    nulls = dict.fromkeys(input_names(get_kind(kind).schema, required=False))
    item = {**nulls, **minimal}  # (a gauge still needs its value)
    if route == "batch":
        endpoint, item = "batch", {**item, "kind": kind}
    response = post_json(ingest_client, f"{API}/{endpoint}", {"batch": [item]})

    assert response.status_code == 202, response.json()
    assert response.json()["accepted"] == 1
    assert drain_outbox() == 1


def test_nulls_inside_ai_pipeline_steps_are_absent_too(ingest_client):
    step = {"name": "retrieve", "duration_ms": None, "tokens_in": None, "tokens_out": None}
    item = {"feature": "quiz", "steps": [step]}

    assert post_json(ingest_client, f"{API}/log-ai-usage", item).json()["accepted"] == 1


@pytest.mark.parametrize(
    ("kind", "field"),
    [(kind, field) for kind in sorted(MINIMAL)
     for field in input_names(get_kind(kind).schema, required=True)],
)  # fmt: skip
def test_a_required_field_sent_as_null_is_refused_by_name(ingest_client, kind, field):
    endpoint, minimal = MINIMAL[kind]
    response = post_json(ingest_client, f"{API}/{endpoint}", {**minimal, field: None})

    assert response.status_code == 400
    assert field in response.json()["rejected"][0]["errors"]


def test_a_first_device_state_change_may_send_null_previous_state(ingest_client):
    item = {"device_id": "d1", "previous_state": None, "new_state": "online"}
    assert post_json(ingest_client, f"{API}/device-state-change", item).status_code == 202
    drain_outbox()

    assert DeviceStateHistory.objects.get().previous_state == ""


def test_null_does_not_let_unknown_fields_or_the_nil_uuid_through(ingest_client):
    items = [
        {"activity_type": "page_view", "sesion_id": None},
        {"activity_type": "page_view", "event_id": "00000000-0000-0000-0000-000000000000"},
    ]
    body = post_json(ingest_client, f"{API}/user-activity", items).json()

    assert body["accepted"] == 0
    assert "sesion_id" in body["rejected"][0]["errors"]
    assert "event_id" in body["rejected"][1]["errors"]


RECORD = f"{API}/metrics/record"


def test_a_counter_recorded_without_value_counts_one(ingest_client):
    # The old increment_counter(metric_name, labels) sent no value.
    counter = {"metric_name": "api_request_count", "metric_type": "counter",
               "labels": {"endpoint": "/api/v1/memories", "method": "POST"}}  # fmt: skip
    assert post_json(ingest_client, RECORD, counter).status_code == 202
    assert post_json(ingest_client, RECORD, {**counter, "value": None}).status_code == 202
    drain_outbox()

    assert list(MetricPoint.objects.values_list("value", flat=True)) == [1.0, 1.0]


def test_a_timer_may_send_duration_ms_for_value(ingest_client):
    timer = {"metric_name": "api_request_duration_ms", "metric_type": "timer",
             "duration_ms": 12.5, "labels": {"endpoint": "/api/v1/feed"}}  # fmt: skip
    assert post_json(ingest_client, RECORD, timer).status_code == 202
    assert post_json(ingest_client, RECORD, {**timer, "value": 12.5}).status_code == 202
    drain_outbox()

    assert list(MetricPoint.objects.values_list("value", flat=True)) == [12.5, 12.5]


@pytest.mark.parametrize(
    "item",
    [
        {"metric_name": "t", "metric_type": "timer", "duration_ms": 5, "value": 6},
        {"metric_name": "g", "metric_type": "gauge"},
        {"metric_name": "g", "metric_type": "gauge", "value": None},
        {"metric_name": "t", "metric_type": "timer", "duration_ms": -1},
        {"metric_name": "t", "metric_type": "timer", "duration_ms": True},
    ],
)
def test_a_metric_without_a_value_it_can_stand_for_is_refused(ingest_client, item):
    response = post_json(ingest_client, RECORD, item)

    assert response.status_code == 400
    assert {"value", "duration_ms"} & set(response.json()["rejected"][0]["errors"])


def test_an_event_in_the_documented_structure_is_accepted_without_its_read_only_fields(
    ingest_client,
):
    event = {
        "id": "550e8400-e29b-41d4-a716-446655440000",
        "event_id": "660e8400-e29b-41d4-a716-446655440001",
        "event_type": "memory_posted",
        "timestamp": ago(minutes=5),
        "user_id": "550e8400-e29b-41d4-a716-446655440002",
        "family_unit_id": "660e8400-e29b-41d4-a716-446655440003",
        "session_id": "770e8400-e29b-41d4-a716-446655440004",
        "metadata": {"memory_id": "880e8400", "title": "Family Vacation", "media_count": 3},
        "created_at": "2024-01-20T12:00:00Z",
    }
    response = post_json(ingest_client, f"{API}/events", event)

    assert response.status_code == 202, response.json()
    drain_outbox()
    stored = Event.objects.get()
    assert str(stored.event_id) == event["event_id"]
    assert stored.created_at.year != 2024  # the server's, not the client's
    assert "id" not in stored.metadata and "created_at" not in stored.metadata


def test_read_only_event_fields_are_accepted_on_events_only(ingest_client):
    item = {"activity_type": "page_view", "id": new_id(), "created_at": ago(minutes=1)}
    body = post_json(ingest_client, f"{API}/user-activity", item).json()

    assert {"id", "created_at"} <= set(body["rejected"][0]["errors"])


DOCUMENTS = f"{API}/ai/documents"


def test_documents_accept_a_batch_body_like_every_other_write(ingest_client):
    docs = [
        {"document_id": "a", "title": "Handbook", "updated_at": ago(days=1)},
        {"document_id": "b", "title": None, "assistant_id": None, "updated_at": ago(days=2)},
    ]
    response = post_json(ingest_client, DOCUMENTS, {"batch": docs})

    assert response.status_code == 200, response.json()
    assert response.json() == {"created": 2, "updated": 0}
    assert dict(KnowledgeDocument.objects.values_list("document_id", "title")) == {
        "a": "Handbook",
        "b": "",
    }


@pytest.mark.parametrize(
    "body",
    [
        {"batch": {"document_id": "a"}},
        {"batch": []},
        {"document_id": "a", "updated_at": None},
        {"document_id": None, "updated_at": "2026-01-01T00:00:00Z"},
    ],
)
def test_a_bad_documents_body_is_a_400(ingest_client, body):
    assert post_json(ingest_client, DOCUMENTS, body).status_code == 400
