"""Schemathesis against this app's own OpenAPI document: every operation, real
PostgreSQL and Redis, real API keys. No answer may be a 5xx, and every answer's
status, headers and body must be what the document says.

Alone: `DEBUG=true .venv/bin/pytest -m fuzz tests/core/test_fuzz.py` (about 2 min).
Deeper, elsewhere: `FUZZ_EXAMPLES=300 FUZZ_SEED=7 DEBUG=true .venv/bin/pytest -m fuzz ...`.
"""

import ipaddress
import os
import socket

import hypothesis
import pytest
import schemathesis
from django.core.handlers.wsgi import WSGIHandler

from analytics_project.celery import app as celery_app
from apps.core.redis import get_redis
from apps.ingest.models import OutboxBatch
from apps.keys import authentication, throttling
from apps.keys.services import api_key_create
from tests.helpers import drain_outbox

pytestmark = [pytest.mark.fuzz, pytest.mark.django_db(transaction=True), pytest.mark.timeout(300)]

# Enough to explore every operation in about two minutes on two cores, the same
# inputs every run; FUZZ_EXAMPLES / FUZZ_SEED explore further or elsewhere (see the docstring).
EXAMPLES_PER_OPERATION = int(os.environ.get("FUZZ_EXAMPLES", "40"))
SEED = os.environ.get("FUZZ_SEED")
CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_headers_conformance",
    "response_schema_conformance",
    "ignored_auth",
)
CONFIG = schemathesis.Config.from_dict(
    {
        "seed": int(SEED or 20261123),
        "suppress-health-check": ["too_slow", "filter_too_much", "data_too_large"],
        "generation": {
            "max-examples": EXAMPLES_PER_OPERATION,
            "deterministic": SEED is None,
            "database": "none",
            "with-security-parameters": False,
        },
        "phases": {"stateful": {"enabled": False}},
        "checks": {"enabled": False, **{name: {"enabled": True} for name in CHECKS}},
    }
)
# The document as this app serves it (collected once; each operation is its own test).
schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", WSGIHandler(), config=CONFIG)


@pytest.fixture
def isolated_redis(settings, monkeypatch):
    """Rate-limit and smart-filter state of this test only, and limits the fuzzer never hits."""
    prefix = settings.REDIS_NAMESPACE  # the test's own (tests/conftest.py)
    monkeypatch.setattr(
        throttling.KeyRateThrottle,
        "THROTTLE_RATES",
        {"ingest": "1000000/min", "read": "1000000/min"},
    )
    settings.THROTTLE_RATE_AUTH_FAILURES = "1000000/min"
    authentication._valid_keys.clear()
    authentication._invalid_keys.clear()
    yield
    client = get_redis()
    keys = list(client.scan_iter(match=f"{prefix}:*", count=1000))
    if keys:
        client.delete(*keys)


@pytest.fixture
def worker_inline(settings):
    """Accepted batches are processed in the request, as a worker would, not queued in Redis."""
    settings.INGEST_PUBLISH_IN_BACKGROUND = False
    eager = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = eager


@pytest.fixture
def app() -> WSGIHandler:
    """The app built inside the test, so its middleware sees the test's settings (request
    logging off, as for Django's test client); the collected one was built before them."""
    return WSGIHandler()


@pytest.fixture
def no_dns(monkeypatch):
    """Channel targets the fuzzer invents never reach a resolver (nor leave this machine)."""
    real = socket.getaddrinfo

    def literal_only(host, *args, **kwargs):
        try:
            ipaddress.ip_address(str(host).strip("[]"))
        except ValueError:
            raise socket.gaierror(socket.EAI_NONAME, "no DNS in the fuzz test") from None
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", literal_only)


@pytest.fixture
def api_keys(isolated_redis, worker_inline, no_dns) -> dict[str, str]:
    return {
        "POST": api_key_create(name="fuzz-ingest", scope="ingest")[1],
        "GET": api_key_create(name="fuzz-read", scope="read")[1],
        "ADMIN": api_key_create(name="fuzz-admin", scope="admin")[1],
    }


def key_for(case, api_keys: dict[str, str]) -> str:
    """Alerting is configured, and periods tracked, with an admin key; ingest posts with an
    ingest key."""
    if case.operation.path.startswith(
        (
            "/api/v1/analytics/alerts/",
            "/api/v1/analytics/monitoring/",
            "/api/v1/analytics/ai/prices",
            "/api/v1/analytics/batch-track",
        )
    ):
        return api_keys["ADMIN"]
    return api_keys[case.operation.method.upper()]


@schema.parametrize()
# The keys (and the database) are meant to outlive each generated example.
@hypothesis.settings(suppress_health_check=[hypothesis.HealthCheck.function_scoped_fixture])
def test_every_operation_answers_as_documented(case, app, api_keys):
    response = case.call_and_validate(headers={"X-API-Key": key_for(case, api_keys)}, app=app)
    if response.status_code == 202:
        # What was accepted must also be storable: nothing parked by the database.
        drain_outbox()
        left = list(OutboxBatch.objects.values("id", "kind", "failed_at", "last_error"))
        assert not left, left
