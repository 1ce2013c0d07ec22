"""The health endpoint: public, JSON, and what it checks."""

import pytest
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db


def test_health_is_public_json_with_status_ok(db):
    response = APIClient().get("/api/v1/analytics/health")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/json")
    assert response.json() == {"status": "ok", "database": "ok", "redis": "ok"}
