"""Unknown URLs under /api answer a JSON 404, never an HTML page."""

import pytest
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("path", ["/api/nope", "/api/v1/metrics/nothing-here", "/api/v2/"])
def test_unknown_api_url_is_a_json_404(db, path):
    response = APIClient().get(path)
    assert response.status_code == 404
    assert response["Content-Type"].startswith("application/json")
    assert response.json()["error"] == "not_found"
