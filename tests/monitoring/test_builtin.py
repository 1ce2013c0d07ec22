"""The checks of this service's own parts: installed once, undeletable, honest."""

import re
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone
from rest_framework.test import APIClient

from apps.ingest.models import OutboxBatch
from apps.keys.services import api_key_create
from apps.monitoring import heartbeats
from apps.monitoring.models import MonitoredService

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def own_heartbeat_keys():
    # Heartbeats are written in the test's own Redis namespace (tests/conftest.py).
    yield


def install() -> str:
    out = StringIO()
    call_command("install_monitoring_checks", stdout=out)
    return out.getvalue()


def results() -> dict[str, str]:
    out = StringIO()
    call_command("run_health_checks", "--once", stdout=out)
    return dict(line.split(": ", 1) for line in out.getvalue().splitlines())


def test_installed_once_and_not_deletable_but_can_be_disabled():
    assert "6 of 6" in install()
    assert "0 of 6" in install()
    db = MonitoredService.objects.get(name="database")
    assert (db.builtin, db.check_type, db.target) == (True, "custom", "database")

    client = APIClient()
    client.credentials(HTTP_X_API_KEY=api_key_create(name="ops", scope="admin")[1])
    url = f"/api/v1/analytics/monitoring/services/{db.pk}"
    refused = client.delete(url)
    assert refused.status_code == 409 and "enabled to false" in refused.json()["detail"]
    assert client.patch(url, {"enabled": False}, format="json").json()["enabled"] is False


def test_database_and_redis_answer_no_worker_no_beat_is_said_so():
    install()
    found = results()
    assert found["database"].startswith("healthy")
    assert found["redis"].startswith("healthy")
    assert found["celery-workers"].startswith("unhealthy")
    assert found["celery-workers"].endswith("no Celery worker answered a ping")
    assert found["celery-beat"].endswith("beat last gave a sign of life never: is it running?")
    assert found["outbox-lag"].startswith("healthy")


@pytest.mark.django_db(transaction=True)  # checks run in threads, on their own connections
def test_beat_heartbeat_and_outbox_lag():
    install()
    heartbeats.beat_heartbeat()
    OutboxBatch.objects.create(kind="error", payload=b"[]", item_count=0)
    OutboxBatch.objects.update(created_at=timezone.now() - timedelta(minutes=4))

    found = results()

    assert found["celery-beat"].startswith("healthy")
    assert found["outbox-lag"].startswith("degraded")
    # 240 s, and the second or so a loaded machine takes to run the checks (CI: 241).
    assert re.search(r"has waited 24[0-3] s", found["outbox-lag"])

    # Past INGEST_OUTBOX_ALERT_SECONDS (300) accepted data is stuck: down, an incident.
    OutboxBatch.objects.update(created_at=timezone.now() - timedelta(minutes=6))
    found = results()
    assert found["outbox-lag"].startswith("unhealthy")
    assert re.search(r"has waited 36[0-3] s \(> 300 s\)", found["outbox-lag"])
