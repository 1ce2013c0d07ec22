"""`create_api_key`: the key printed once, with the scope asked for."""

import re
from io import StringIO

import pytest
from django.core.management import call_command
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db


def run(*args) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command(*args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_create_api_key_prints_the_key_alone_on_the_last_line_and_it_reads(db):
    out, err = run("create_api_key", "dashboards", "--scope", "read")
    key = out.strip().splitlines()[-1]
    assert re.fullmatch(r"[A-Za-z0-9]+\.[A-Za-z0-9]+", key)
    assert key.split(".")[0] in err  # the prefix is named, the key itself is not
    assert key not in err
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    assert client.get("/api/v1/metrics/api-performance").status_code == 200


def test_create_api_key_defaults_to_an_ingest_key_that_cannot_read(db):
    out, _ = run("create_api_key", "frontend")
    key = out.strip().splitlines()[-1]
    client = APIClient()
    client.credentials(HTTP_X_API_KEY=key)
    assert client.get("/api/v1/metrics/api-performance").status_code == 403
    response = client.generic(
        "POST",
        "/api/v1/analytics/user-activity",
        b'{"activity_type": "click"}',
        content_type="application/json",
    )
    assert response.status_code == 202


def test_an_admin_key_configures_alerting_reads_and_cannot_ingest(db):
    out, _ = run("create_api_key", "oncall", "--scope", "admin")
    client = APIClient()
    client.credentials(HTTP_X_API_KEY=out.strip().splitlines()[-1])
    rule = {"name": "r", "metric_name": "m", "condition_operator": "gt", "threshold": 1}

    assert client.post("/api/v1/analytics/alerts/rules", rule, format="json").status_code == 201
    assert client.get("/api/v1/metrics/api-performance").status_code == 200
    response = client.generic(
        "POST",
        "/api/v1/analytics/user-activity",
        b'{"activity_type": "click"}',
        content_type="application/json",
    )
    assert response.status_code == 403
