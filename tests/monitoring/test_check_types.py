"""postgres and redis checks against the real servers on 127.0.0.1, the passwords in
their URLs never shown back in a check's error; and services listed by GET /health under
their health_key (the AI model's server beside the database and Redis)."""

import base64
import socket
import threading
import time

import pytest
from django.db import connection
from django.utils import timezone
from rest_framework.test import APIClient

from apps.monitoring import checks, services
from apps.monitoring.models import Downtime, HealthCheck, MonitoredService
from tests.alerts.receiver import Receiver, free_port
from tests.helpers import post_json
from tests.monitoring.admin_form import ADMIN, service_form

pytestmark = pytest.mark.django_db

SERVICES = "/api/v1/analytics/monitoring/services"
SUMMARY = "/api/v1/analytics/monitoring/health"
HEALTH = "/api/v1/analytics/health"
PASSWORD = "s3cret-pw-4711"


def postgres_url(*, password: str = PASSWORD, port: int = 0, name: str = "") -> str:
    """The test database (its server trusts 127.0.0.1, so a password is not needed, but
    one in the URL is still the kind of secret that must not be shown back)."""
    db = connection.settings_dict
    return (
        f"postgres://{db['USER']}:{password}@{db['HOST'] or '127.0.0.1'}:"
        f"{port or db['PORT'] or 5432}/{name or db['NAME']}"
    )


def redis_url(*, password: str = "", port: int = 0) -> str:
    auth = f":{password}@" if password else ""
    return f"redis://{auth}127.0.0.1:{port or 6379}/15"


def check(check_type: str, target: str, timeout: float = 3) -> checks.Result:
    svc = MonitoredService.objects.create(
        name=f"{check_type}-{time.monotonic_ns()}",
        check_type=check_type,
        target=target,
        timeout_seconds=timeout,
    )
    return checks.run(svc, timezone.now())


def assert_no_secret(*texts: object, secret: str = PASSWORD) -> None:
    for text in texts:
        assert secret not in str(text)
        assert "s3cret" not in str(text)


# --- postgres -------------------------------------------------------------------------------


def test_postgres_check_is_healthy_against_the_real_database():
    result = check("postgres", postgres_url())
    assert (result.status, result.error) == ("healthy", "")
    assert result.response_time_ms is not None


def test_postgres_check_of_a_missing_database_is_unhealthy_without_the_password():
    result = check("postgres", postgres_url(name="no_such_db_4711"))
    assert result.status == "unhealthy"
    assert 'database "no_such_db_4711" does not exist' in result.error
    assert_no_secret(result.error)


def test_postgres_check_of_a_closed_port_is_unhealthy_without_the_password():
    result = check("postgres", postgres_url(port=free_port()))
    assert result.status == "unhealthy"
    assert "Connection refused" in result.error
    assert_no_secret(result.error)


def test_a_driver_error_quoting_the_password_is_scrubbed():
    # libpq quotes a badly percent-encoded password in its message.
    result = check("postgres", postgres_url(password="s3cret%zzpw"))
    assert result.status == "unhealthy"
    assert "invalid percent-encoded token" in result.error
    assert_no_secret(result.error, secret="s3cret%zzpw")


def test_postgres_check_is_cut_at_its_deadline_by_a_server_that_never_answers():
    # Connected (the kernel accepts), then silence: no startup reply ever comes.
    listener = socket.create_server(("127.0.0.1", 0))
    try:
        port = listener.getsockname()[1]
        started = time.monotonic()
        result = check("postgres", postgres_url(port=port), timeout=1)
        assert (result.status, result.error) == ("unhealthy", "timed out")
        assert time.monotonic() - started < 2 + 1  # libpq's connect timeout: 2 s at least
    finally:
        listener.close()


# --- redis ----------------------------------------------------------------------------------


def test_redis_check_is_healthy_against_the_real_redis():
    result = check("redis", redis_url())
    assert (result.status, result.error) == ("healthy", "")


def test_redis_check_of_a_closed_port_is_unhealthy_without_the_password():
    result = check("redis", redis_url(password=PASSWORD, port=free_port()))
    assert result.status == "unhealthy"
    assert "Connection refused" in result.error
    assert_no_secret(result.error)


def test_redis_check_with_a_refused_password_is_unhealthy_without_it():
    result = check("redis", redis_url(password=PASSWORD))
    assert result.status == "unhealthy"
    assert "AuthenticationError" in result.error
    assert_no_secret(result.error)


def test_redis_check_is_cut_at_its_deadline_by_a_server_that_never_answers():
    listener = socket.create_server(("127.0.0.1", 0))  # connects, never answers PING
    before = set(threading.enumerate())
    try:
        result = check("redis", redis_url(port=listener.getsockname()[1]), timeout=1)
        assert (result.status, result.error) == ("unhealthy", "timed out")
        time.sleep(0.1)
        assert [t.name for t in threading.enumerate() if t not in before] == []
    finally:
        listener.close()


# --- through the API: what is stored and shown ----------------------------------------------


def test_passwords_never_reach_stored_checks_or_the_api(admin_api_client, read_client):
    targets = {
        "pg-bad-encoding": ("postgres", postgres_url(password="s3cret%zzpw")),
        "pg-gone": ("postgres", postgres_url(port=free_port())),
        "redis-auth": ("redis", redis_url(password=PASSWORD)),
        "redis-gone": ("redis", redis_url(password=PASSWORD, port=free_port())),
    }
    for name, (kind, target) in targets.items():
        body = {"name": name, "check_type": kind, "target": target, "timeout_seconds": 3}
        response = post_json(admin_api_client, SERVICES, body)
        assert response.status_code == 201, response.content

    services.checks_run_due(all_services=True)

    stored = [*HealthCheck.objects.values_list("error", flat=True)]
    stored += [*MonitoredService.objects.values_list("last_error", flat=True)]
    stored += [*Downtime.objects.values_list("error", flat=True)]
    assert len([error for error in stored if error]) >= 8
    shown = [
        read_client.get(SUMMARY).content.decode(),
        read_client.get(SERVICES).content.decode(),
        *(read_client.get(f"{SUMMARY}/{name}").content.decode() for name in targets),
    ]
    assert all(response for response in shown)
    for text in stored + shown:
        assert "s3cret" not in text and PASSWORD not in text


@pytest.mark.parametrize(
    ("kind", "target"),
    [
        ("postgres", "http://db.internal/app"),
        ("postgres", "db.internal:5432"),
        ("redis", "postgres://db.internal/app"),
        ("redis", "redis:///0"),
    ],
)
def test_a_database_check_needs_its_kind_of_url(admin_api_client, kind, target):
    response = post_json(
        admin_api_client, SERVICES, {"name": "db", "check_type": kind, "target": target}
    )
    assert response.status_code == 400
    assert list(response.json()["fields"]) == ["target"]


def test_a_bad_database_url_is_refused_without_echoing_its_password(admin_api_client):
    target = f"postgres://u:{PASSWORD}@db.internal:99999/app"
    response = post_json(
        admin_api_client, SERVICES, {"name": "db", "check_type": "postgres", "target": target}
    )
    assert response.status_code == 400
    assert PASSWORD not in response.content.decode()


# --- GET /api/v1/analytics/health: services under their health_key --------------------------


def health() -> dict:
    response = APIClient().get(HEALTH)
    assert response.status_code == 200, response.content
    return response.json()


def test_a_service_marked_ollama_is_listed_beside_the_database_and_redis(admin_api_client):
    with Receiver(200, 200, 503) as model_server:
        response = post_json(
            admin_api_client,
            SERVICES,
            {
                "name": "AI model",
                "check_type": "http",
                "target": model_server.url,
                "health_key": "ollama",
                "failure_threshold": 1,
            },
        )
        assert response.status_code == 201, response.content
        assert response.json()["health_key"] == "ollama"
        assert health()["services"]["ollama"] is False  # not checked yet: not known up

        services.checks_run_due(all_services=True)
        body = health()
        assert body["services"]["ollama"] is True
        assert body["services"]["database"] is True and body["services"]["redis"] is True

        services.checks_run_due(all_services=True)
        services.checks_run_due(all_services=True)  # the model server answers 503
        body = health()
        assert body["services"]["ollama"] is False
        assert body["status"] == "degraded"  # writes are still accepted: not a 503


def test_services_without_a_health_key_or_disabled_are_not_listed(admin_api_client):
    MonitoredService.objects.create(name="api", check_type="http", target="http://a/")
    MonitoredService.objects.create(
        name="old model", check_type="http", target="http://b/", health_key="llm", enabled=False
    )
    assert set(health()["services"]) == {
        "database",
        "redis",
        "celery",
        "celery_beat",
        "periodic_tasks",
    }


@pytest.mark.parametrize(
    ("key", "why"),
    [
        ("database", "one of the health endpoint's own parts"),
        ("Ollama Server", 'valid "slug"'),
        ("ollama", "health key already exists"),
    ],
)
def test_a_health_key_is_a_free_slug_not_one_of_the_answers_own_parts(admin_api_client, key, why):
    MonitoredService.objects.create(
        name="model", check_type="http", target="http://m/", health_key="ollama"
    )
    response = post_json(
        admin_api_client,
        SERVICES,
        {"name": "other", "check_type": "http", "target": "http://o/", "health_key": key},
    )
    assert response.status_code == 400, response.content
    [message] = response.json()["fields"]["health_key"]
    assert why in message
    assert MonitoredService.objects.filter(health_key=key).count() == (key == "ollama")


def test_the_admin_sets_a_health_key_and_refuses_a_taken_one(oncall):
    client = oncall
    form = service_form(
        name="AI model",
        target="http://127.0.0.1:9/api/tags",
        failure_threshold=3,
        health_key="ollama",
    )
    added = client.post(f"{ADMIN}/add/", form)
    assert added.status_code == 302, added.content.decode()[:2000]
    assert MonitoredService.objects.get(name="AI model").health_key == "ollama"

    again = client.post(f"{ADMIN}/add/", {**form, "name": "second model"})
    assert again.status_code == 200  # the form again, with the reason
    assert "Another service already has this health_key." in again.content.decode()
    assert not MonitoredService.objects.filter(name="second model").exists()


def test_an_http_check_sends_url_credentials_as_basic_auth_and_never_shows_them():
    with Receiver(200, 401) as target:
        url = target.url.replace("http://", f"http://monitor:{PASSWORD}@")
        assert check("http", url).status == "healthy"
        refused = check("http", url)

        assert refused.status == "unhealthy"
        assert refused.error == "ValueError: HTTP 401, expected 200"
        first = target.requests[0]
        expected = base64.b64encode(f"monitor:{PASSWORD}".encode()).decode()
        assert first.headers["Authorization"] == f"Basic {expected}"
        assert PASSWORD not in first.path
