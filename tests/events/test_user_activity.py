"""POST /api/v1/analytics/user-activity: the frontend's page views, clicks and searches."""

import pytest
from rest_framework.test import APIClient

from apps.events.models import UserActivity
from tests.helpers import drain_outbox, post_json

URL = "/api/v1/analytics/user-activity"

pytestmark = pytest.mark.django_db

PAGE_VIEW = {
    "activity_type": "page_view",
    "page_url": "/dashboard",
    "session_id": "sess-42",
    "duration_ms": 1500,
}
SEARCH = {
    "activity_type": "search",
    "page_url": "/dashboard",
    "search_query": "device status",
    "extra_data": {"results_count": 5},
}


def test_seed_page_view_example_is_stored(ingest_client):
    response = post_json(ingest_client, URL, PAGE_VIEW)
    assert response.status_code == 202
    assert response.json() == {"accepted": 1, "duplicates": 0, "rejected": []}
    drain_outbox()
    row = UserActivity.objects.get()
    assert row.activity_type == "page_view"
    assert row.page_url == "/dashboard"
    assert row.session_id == "sess-42"
    assert row.duration_ms == 1500
    assert row.search_query == ""
    assert row.extra_data == {}


def test_seed_search_example_is_stored_with_extra_data(ingest_client):
    assert post_json(ingest_client, URL, SEARCH).status_code == 202
    drain_outbox()
    row = UserActivity.objects.get()
    assert row.activity_type == "search"
    assert row.search_query == "device status"
    assert row.extra_data == {"results_count": 5}
    assert row.duration_ms is None


def test_both_examples_in_one_batch(ingest_client):
    response = post_json(ingest_client, URL, {"batch": [PAGE_VIEW, SEARCH]})
    assert response.json() == {"accepted": 2, "duplicates": 0, "rejected": []}
    drain_outbox()
    assert sorted(UserActivity.objects.values_list("activity_type", flat=True)) == [
        "page_view",
        "search",
    ]


def test_invalid_activity_type_is_a_400_naming_the_field(ingest_client):
    response = post_json(ingest_client, URL, {"activity_type": "teleport", "page_url": "/"})
    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "invalid"
    assert body["accepted"] == 0
    assert len(body["rejected"]) == 1
    assert body["rejected"][0]["index"] == 0
    assert "activity_type" in body["rejected"][0]["errors"]
    drain_outbox()
    assert not UserActivity.objects.exists()


def test_one_invalid_item_in_a_batch_rejects_only_that_index(ingest_client):
    response = post_json(ingest_client, URL, [PAGE_VIEW, {"activity_type": "teleport"}, SEARCH])
    assert response.status_code == 202
    body = response.json()
    assert body["accepted"] == 2
    assert [r["index"] for r in body["rejected"]] == [1]
    drain_outbox()
    assert UserActivity.objects.count() == 2


def test_secrets_in_extra_data_are_redacted(ingest_client):
    item = {**SEARCH, "extra_data": {"results_count": 5, "session_key": "abc", "token": "t"}}
    assert post_json(ingest_client, URL, item).status_code == 202
    drain_outbox()
    assert UserActivity.objects.get().extra_data == {
        "results_count": 5,
        "session_key": "[redacted]",
        "token": "[redacted]",
    }


def test_with_an_ingest_key_the_body_user_id_is_kept(ingest_client):
    assert post_json(ingest_client, URL, {**PAGE_VIEW, "user_id": "u-77"}).status_code == 202
    drain_outbox()
    assert UserActivity.objects.get().user_id == "u-77"


def test_signed_in_user_may_post_and_is_recorded_as_the_user(outsider, django_user_model):
    other = django_user_model.objects.create_user(username="someone-else")
    client = APIClient()
    client.force_login(outsider)
    response = post_json(client, URL, [{**PAGE_VIEW, "user_id": str(other.pk)}, SEARCH])
    assert response.status_code == 202
    assert response.json()["accepted"] == 2
    drain_outbox()
    assert set(UserActivity.objects.values_list("user_id", flat=True)) == {str(outsider.pk)}


def test_read_key_may_not_post(read_client):
    response = post_json(read_client, URL, PAGE_VIEW)
    assert response.status_code == 403
    assert response.json()["error"] == "permission_denied"
    drain_outbox()
    assert not UserActivity.objects.exists()


def test_anonymous_post_is_401(db):
    response = post_json(APIClient(), URL, PAGE_VIEW)
    assert response.status_code == 401
    drain_outbox()
    assert not UserActivity.objects.exists()


def test_invalid_key_is_401(db):
    client = APIClient()
    client.credentials(HTTP_X_API_KEY="nope.not-a-key")
    assert post_json(client, URL, PAGE_VIEW).status_code == 401
