"""The Django admin: every model browsable, errors triaged by actions, records read-only."""

from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.auth.models import Permission
from django.urls import reverse

from apps.devices.models import DeviceStateHistory
from apps.errors.models import ErrorLog
from apps.events.models import UserActivity
from apps.ingest.models import OutboxBatch
from apps.jobs.models import JobOutcome
from apps.keys.models import APIKey
from apps.keys.services import api_key_create
from apps.requestlog.models import APIRequestLog

pytestmark = pytest.mark.django_db


def _now():
    return datetime.now(UTC)


def make_error(message: str = "boom", **extra) -> ErrorLog:
    now = _now()
    return ErrorLog.objects.create(
        category="api", error_message=message, timestamp=now, received_at=now, **extra
    )


@pytest.fixture
def one_of_each():
    now = _now()
    stamps = {"timestamp": now - timedelta(minutes=5), "received_at": now}
    return {
        ErrorLog: make_error(),
        APIRequestLog: APIRequestLog.objects.create(
            endpoint="/api/x", method="GET", status_code=200, response_time_ms=1.5, **stamps
        ),
        UserActivity: UserActivity.objects.create(
            activity_type="page_view", page_url="/dashboard", **stamps
        ),
        DeviceStateHistory: DeviceStateHistory.objects.create(
            device_id="device-123", previous_state="online", new_state="offline", **stamps
        ),
        JobOutcome: JobOutcome.objects.create(
            job_type="device_restart", status="success", duration_ms=5000, **stamps
        ),
        OutboxBatch: OutboxBatch.objects.create(
            kind="error", payload=[{"category": "api"}], item_count=1
        ),
        APIKey: api_key_create(name="grafana", scope="read")[0],
    }


def admin_url(model, view: str, *args) -> str:
    meta = model._meta
    return reverse(f"admin:{meta.app_label}_{meta.model_name}_{view}", args=args)


MODELS = [
    ErrorLog,
    APIRequestLog,
    UserActivity,
    DeviceStateHistory,
    JobOutcome,
    OutboxBatch,
    APIKey,
]


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
def test_changelist_of_every_model_loads(admin_client, one_of_each, model):
    response = admin_client.get(admin_url(model, "changelist"))
    assert response.status_code == 200
    assert response.context["cl"].result_count == 1


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
def test_change_page_of_every_model_loads(admin_client, one_of_each, model):
    obj = one_of_each[model]
    assert admin_client.get(admin_url(model, "change", obj.pk)).status_code == 200


def test_admin_index_loads(admin_client, one_of_each):
    response = admin_client.get(reverse("admin:index"))
    assert response.status_code == 200


def test_changelist_search_and_filters_work(admin_client, one_of_each):
    url = admin_url(ErrorLog, "changelist")
    response = admin_client.get(url, {"q": "boom", "resolved__exact": "0"})
    assert response.status_code == 200
    assert response.context["cl"].result_count == 1
    response = admin_client.get(url, {"q": "no such text"})
    assert response.context["cl"].result_count == 0


def test_anonymous_user_is_sent_to_the_login_page(client):
    response = client.get(admin_url(ErrorLog, "changelist"))
    assert response.status_code == 302
    assert reverse("admin:login") in response["Location"]


def run_action(client, action: str, ids) -> None:
    response = client.post(
        admin_url(ErrorLog, "changelist"),
        {"action": action, ACTION_CHECKBOX_NAME: [str(i) for i in ids], "index": 0},
    )
    assert response.status_code == 302, response.content[:500]


def test_mark_resolved_sets_resolved_by_the_admin_and_resolved_at(admin_client, admin_user):
    first, second, untouched = make_error("a"), make_error("b"), make_error("c")
    before = _now()
    run_action(admin_client, "mark_resolved", [first.pk, second.pk])
    after = _now()
    for error in (first, second):
        error.refresh_from_db()
        assert error.resolved is True
        assert error.resolved_by == admin_user.get_username() == "admin"
        assert before <= error.resolved_at <= after
    untouched.refresh_from_db()
    assert untouched.resolved is False
    assert untouched.resolved_by == ""
    assert untouched.resolved_at is None


def test_mark_resolved_keeps_the_first_resolution(admin_client):
    earlier = _now() - timedelta(days=2)
    error = make_error(resolved=True, resolved_by="first-responder", resolved_at=earlier)
    run_action(admin_client, "mark_resolved", [error.pk])
    error.refresh_from_db()
    assert error.resolved_by == "first-responder"
    assert error.resolved_at == earlier


def test_view_only_staff_cannot_mark_errors_resolved(client, django_user_model):
    viewer = django_user_model.objects.create_user(username="viewer", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_errorlog"))
    client.force_login(viewer)
    error = make_error()
    # The list itself is visible to them.
    assert client.get(admin_url(ErrorLog, "changelist")).status_code == 200
    client.post(
        admin_url(ErrorLog, "changelist"),
        {"action": "mark_resolved", ACTION_CHECKBOX_NAME: [str(error.pk)], "index": 0},
    )
    error.refresh_from_db()
    assert error.resolved is False
    assert error.resolved_by == ""


def test_reopen_clears_the_resolution(admin_client):
    error = make_error()
    run_action(admin_client, "mark_resolved", [error.pk])
    run_action(admin_client, "reopen", [error.pk])
    error.refresh_from_db()
    assert error.resolved is False
    assert error.resolved_by == ""
    assert error.resolved_at is None


def test_error_change_form_post_does_not_change_the_row(admin_client):
    error = make_error("original message")
    snapshot = ErrorLog.objects.filter(pk=error.pk).values().get()
    response = admin_client.post(
        admin_url(ErrorLog, "change", error.pk),
        {
            "error_message": "tampered",
            "category": "database",
            "severity": "critical",
            "resolved": "on",
            "resolved_by": "mallory",
        },
    )
    assert response.status_code in (302, 403)
    assert ErrorLog.objects.filter(pk=error.pk).values().get() == snapshot


@pytest.mark.parametrize(
    "model", [APIRequestLog, UserActivity, DeviceStateHistory, JobOutcome], ids=lambda m: m.__name__
)
def test_ingested_rows_refuse_change_form_posts(admin_client, one_of_each, model):
    obj = one_of_each[model]
    snapshot = model.objects.filter(pk=obj.pk).values().get()
    response = admin_client.post(
        admin_url(model, "change", obj.pk), {"timestamp_0": "2020-01-01", "timestamp_1": "00:00"}
    )
    assert response.status_code == 403
    assert model.objects.filter(pk=obj.pk).values().get() == snapshot


@pytest.mark.parametrize(
    "model",
    [ErrorLog, APIRequestLog, UserActivity, DeviceStateHistory, JobOutcome, OutboxBatch],
    ids=lambda m: m.__name__,
)
def test_records_cannot_be_added_in_the_admin(admin_client, model):
    assert admin_client.get(admin_url(model, "add")).status_code == 403


def test_every_field_of_an_ingested_record_is_read_only(admin_client, one_of_each):
    from django.contrib import admin

    model_admin = admin.site._registry[JobOutcome]
    request = admin_client.get(admin_url(JobOutcome, "changelist")).wsgi_request
    readonly = set(model_admin.get_readonly_fields(request, one_of_each[JobOutcome]))
    assert {f.name for f in JobOutcome._meta.fields} <= readonly
