"""The dashboard overview: who may read it, and what each block holds."""

import socket

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from apps.monitoring import checks, services
from apps.monitoring.models import MonitoredService
from tests.helpers import drain_outbox, post_json

pytestmark = pytest.mark.django_db

URL = "/api/v1/analytics/metrics"


def test_a_read_key_gets_every_block_with_this_machines_figures(read_client):
    response = read_client.get(URL)

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"system", "ai", "usage", "timestamp"}
    system = body["system"]
    assert system["host"] == socket.gethostname()
    assert 0 <= system["cpu_percent"] <= 100
    assert 0 < system["memory_percent"] <= 100
    assert 0 < system["memory_used_gb"] <= system["memory_total_gb"]
    assert 0 < system["disk_percent"] <= 100
    assert system["uptime_seconds"] > 0
    assert system["load_1m"] >= 0
    assert body["ai"] == {
        "model": None,
        "is_available": None,
        "total_requests": 0,
        "avg_response_time": None,
        "cache_hit_rate": 0.0,
    }
    assert body["usage"] == {
        "total_users": 0,
        "active_users_24h": 0,
        "total_scenarios": 0,
        "active_conversations": 0,
        "total_quizzes_taken": 0,
        "total_grammar_checks": 0,
    }
    assert body["timestamp"].endswith("Z")


def test_cpu_is_measured_between_readings_not_waited_for(read_client):
    busy_until = [read_client.get(URL).json()["system"]["cpu_percent"]]
    sum(i * i for i in range(2_000_000))  # some CPU between two readings
    busy_until.append(read_client.get(URL).json()["system"]["cpu_percent"])
    assert busy_until[1] > 0


def test_staff_may_read_an_ingest_key_may_not_nobody_else(staff_client, ingest_client):
    assert staff_client.get(URL).status_code == 200
    refused = ingest_client.get(URL)
    assert refused.status_code == 403 and refused.json()["error"] == "permission_denied"
    anonymous = APIClient().get(URL)
    assert anonymous.status_code == 401 and anonymous.json()["error"] == "not_authenticated"


def test_the_ai_block_adds_up_usage_and_asks_the_models_monitored_service(
    ingest_client, read_client, settings
):
    usage = [
        {"feature": "chat", "model": "mistral:7b", "response_time_ms": 2000, "cache_hit": True},
        {"feature": "chat", "model": "mistral:7b", "response_time_ms": 3000, "cache_hit": False},
        {"feature": "quiz", "model": "tiny", "cache_hit": False},
    ]
    assert post_json(ingest_client, "/api/v1/analytics/log-ai-usage", usage).status_code == 202
    drain_outbox()

    ai = read_client.get(URL).json()["ai"]
    assert ai == {
        "model": "mistral:7b",
        "is_available": None,  # no monitored service of that name
        "total_requests": 3,
        "avg_response_time": 2.5,
        "cache_hit_rate": 33.33,
    }

    service = MonitoredService.objects.create(
        name="ollama", check_type="http", target="http://127.0.0.1:1/"
    )
    settings.AI_MODEL_SERVICE = "ollama"
    assert read_client.get(URL).json()["ai"]["is_available"] is None  # never checked yet
    services.check_record(service.pk, checks.Result("healthy", 5.0), at=timezone.now())
    assert read_client.get(URL).json()["ai"]["is_available"] is True
    services.check_record(
        service.pk, checks.Result("unhealthy", None, "refused"), at=timezone.now()
    )
    assert read_client.get(URL).json()["ai"]["is_available"] is False
