"""The dashboard overview: who may read it, and what each block holds."""

import socket

import pytest
from rest_framework.test import APIClient

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
    assert (body["ai"], body["usage"]) == ({}, {})
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
