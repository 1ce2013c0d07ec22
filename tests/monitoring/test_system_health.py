"""The public health answer: seed shape, what each part means, 503 only when unhealthy."""

import time

import pytest
import redis
from django.db import connection
from rest_framework.test import APIClient

from apps.core.redis import get_redis
from apps.monitoring import heartbeats
from tests.live import free_port

pytestmark = pytest.mark.django_db

URL = "/api/v1/analytics/health"


@pytest.fixture(autouse=True)
def own_heartbeat_keys(monkeypatch, settings):
    # The keys are the test's own: its Redis namespace (tests/conftest.py).
    settings.MONITORING_HEARTBEAT_SECONDS = 5


def health() -> tuple[int, dict]:
    response = APIClient().get(URL)
    assert response["Content-Type"].startswith("application/json")
    return response.status_code, response.json()


def test_every_part_alive_is_healthy():
    heartbeats.worker_heartbeat("worker@a")
    heartbeats.beat_heartbeat()

    status, body = health()

    assert status == 200
    assert set(body) == {"status", "services", "timestamp"}
    assert body["status"] == "healthy"
    assert body["services"] == {
        "database": True,
        "redis": True,
        "celery": True,
        "celery_beat": True,
        "periodic_tasks": True,
    }
    assert body["timestamp"].endswith("Z")


def test_no_worker_and_no_beat_is_degraded_but_still_200():
    status, body = health()
    assert (status, body["status"]) == (200, "degraded")
    assert body["services"] == {
        "database": True,
        "redis": True,
        "celery": False,
        "celery_beat": False,
        "periodic_tasks": True,
    }


def test_a_periodic_job_failing_in_a_row_makes_it_degraded(settings):
    from apps.jobs.services import periodic_outcome_record

    settings.PERIODIC_TASK_FAILURES_ALERT = 2
    heartbeats.worker_heartbeat("worker@a")
    heartbeats.beat_heartbeat()
    periodic_outcome_record(entry="sweep-outbox", succeeded=False, error="AttributeError: x")
    assert health()[1]["status"] == "healthy"
    periodic_outcome_record(entry="sweep-outbox", succeeded=False, error="AttributeError: x")
    status, body = health()
    assert (status, body["status"], body["services"]["periodic_tasks"]) == (200, "degraded", False)
    periodic_outcome_record(entry="sweep-outbox", succeeded=True)
    assert health()[1]["status"] == "healthy"


def test_signs_older_than_two_intervals_count_as_down():
    redis = get_redis()
    redis.zadd(heartbeats.workers_key(), {"worker@old": time.time() - 11})
    redis.set(heartbeats.beat_key(), time.time() - 11)
    assert health()[1]["services"]["celery"] is False
    assert health()[1]["services"]["celery_beat"] is False

    redis.zadd(heartbeats.workers_key(), {"worker@new": time.time() - 9})
    redis.set(heartbeats.beat_key(), time.time() - 9)
    assert health()[1]["status"] == "healthy"


def test_a_worker_that_shuts_down_cleanly_is_gone_at_once():
    heartbeats.worker_heartbeat("worker@a")
    heartbeats.beat_heartbeat()
    assert health()[1]["status"] == "healthy"
    heartbeats.worker_gone("worker@a")
    assert health()[1]["services"]["celery"] is False


def test_redis_down_is_unhealthy_503_with_retry_after(monkeypatch):
    nowhere = redis.Redis(port=free_port(), socket_connect_timeout=1)  # nothing listens
    monkeypatch.setattr(heartbeats, "get_redis", lambda: nowhere)
    response = APIClient().get(URL)
    assert response.status_code == 503
    assert response["Retry-After"]
    body = response.json()
    assert body["status"] == "unhealthy"
    assert body["services"] == {
        "database": True,
        "redis": False,
        "celery": False,
        "celery_beat": False,
        "periodic_tasks": False,
    }


@pytest.mark.django_db(transaction=True)
def test_database_down_is_unhealthy_503():
    heartbeats.worker_heartbeat("worker@a")
    heartbeats.beat_heartbeat()
    real_port = connection.settings_dict["PORT"]
    connection.close()
    connection.settings_dict["PORT"] = free_port()  # a real connection attempt, refused
    try:
        response = APIClient().get(URL)
    finally:
        connection.close()
        connection.settings_dict["PORT"] = real_port
    assert response.status_code == 503
    assert response.json()["status"] == "unhealthy"
    assert response.json()["services"]["database"] is False
    assert response.json()["services"]["redis"] is True


def test_it_needs_no_key_and_ignores_a_bad_one():
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Bearer not-a-key")
    assert client.get(URL).status_code == 200


def test_a_probe_naming_the_host_by_its_address_gets_health_not_400(settings):
    # Load balancers and Kubernetes probe each web host by its address, which
    # ALLOWED_HOSTS does not list; every other path still has its Host checked.
    settings.ALLOWED_HOSTS = ["analytics.example.com"]
    client = APIClient()

    probed = client.get(URL, HTTP_HOST="10.0.3.7:8000")
    other = client.get("/api/v1/analytics/events", HTTP_HOST="10.0.3.7:8000")
    named = client.get(URL, HTTP_HOST="analytics.example.com")

    assert probed.status_code == 200
    assert probed.json()["services"]["database"] is True
    assert other.status_code == 400
    assert named.status_code == 200
