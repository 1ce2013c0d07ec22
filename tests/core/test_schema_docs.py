"""The OpenAPI document and the docs page: every route, method and bound is in it."""

import re

import pytest
import yaml
from django.urls import URLResolver, get_resolver
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db

EXPECTED_PATHS = {
    "/api/v1/analytics/health",
    "/api/v1/analytics/metrics",
    "/api/v1/analytics/log-ai-usage",
    "/api/v1/analytics/ttft",
    "/api/v1/analytics/trending",
    "/api/v1/analytics/costs",
    "/api/v1/analytics/freshness",
    "/api/v1/analytics/advanced",
    "/api/v1/analytics/ai-features",
    "/api/v1/analytics/top-users",
    "/api/v1/analytics/user/{user_id}",
    "/api/v1/analytics/user/{user_id}/trends",
    "/api/v1/analytics/agent/{agent_id}",
    "/api/v1/analytics/agent/{agent_id}/trends",
    "/api/v1/analytics/platform/trends",
    "/api/v1/analytics/users/active",
    "/api/v1/analytics/users/retention",
    "/api/v1/analytics/dashboard",
    "/api/v1/analytics/batch-track",
    "/api/v1/analytics/popular-scenarios",
    "/api/v1/analytics/user-activity",
    "/api/v1/analytics/error",
    "/api/v1/analytics/device-state-change",
    "/api/v1/analytics/job-outcome",
    "/api/v1/analytics/requests",
    "/api/v1/analytics/batch",
    "/api/v1/metrics/api-performance",
    "/api/v1/metrics/job-outcomes",
    "/api/v1/metrics/error-trends",
    "/api/v1/metrics/device-state-history/{device_id}",
}


WRITES = {
    f"/api/v1/analytics/{name}"
    for name in (
        "log-ai-usage",
        "user-activity",
        "error",
        "device-state-change",
        "job-outcome",
        "requests",
        "batch",
        "batch-track",
    )
}


@pytest.fixture
def openapi(db) -> dict:
    response = APIClient().get("/api/schema/")
    assert response.status_code == 200
    return yaml.safe_load(response.content)


# status/: an HTML page; api/<project_id>/: the Sentry SDKs' formats (docs/sentry.md);
# otlp/: the OTLP specification's messages (docs/otlp.md); the PostHog SDKs' capture,
# flags and remote config paths (docs/posthog.md).
NOT_API_ROUTES = (
    "admin/",
    "api/schema/",
    "api/docs/",
    "status/",
    "api/<int:project_id>/",
    "otlp/",
    "^(?:capture|batch|e|i/v0/e)/?$",
    "^(?:decide|flags)/?$",
    r"^array/(?P<token>[^/]+)/config(?P<script>\.js)?/?$",
)


def api_paths_from_urlconf() -> set[str]:
    """Every route in the URLconf but the admin and the schema/docs pages themselves,
    with <conv:name> written as {name}."""

    def walk(patterns, prefix):
        for pattern in patterns:
            route = prefix + str(pattern.pattern)
            if isinstance(pattern, URLResolver):
                yield from walk(pattern.url_patterns, route)
            else:
                yield route

    # drf-spectacular names a `pk` path parameter `id` in the document.
    return {
        "/" + re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", route).replace("{pk}", "{id}")
        for route in walk(get_resolver().url_patterns, "")
        if not route.startswith(NOT_API_ROUTES)
    }


def test_schema_lists_every_endpoint_path(openapi):
    assert openapi["openapi"].startswith("3.")
    in_urlconf = api_paths_from_urlconf()
    assert EXPECTED_PATHS <= in_urlconf  # the replaced API's endpoints are all routed
    assert set(openapi["paths"]) == in_urlconf


def test_schema_documents_methods_per_path(openapi):
    paths = openapi["paths"]
    for path in EXPECTED_PATHS:
        expected = "post" if path in WRITES else "get"
        assert expected in paths[path], path


def param(openapi: dict, path: str, name: str) -> dict:
    params = openapi["paths"][path]["get"]["parameters"]
    return next(p for p in params if p["name"] == name)


def bounds_documented(parameter: dict, low: int, high: int) -> bool:
    """As machine-readable minimum/maximum, or at least in the description."""
    schema = parameter["schema"]
    if schema.get("minimum") == low and schema.get("maximum") == high:
        return True
    return f"{low}-{high}" in parameter.get("description", "")


def test_schema_documents_hours_bounds(openapi):
    hours = param(openapi, "/api/v1/metrics/api-performance", "hours")
    assert hours["in"] == "query"
    assert hours["schema"]["type"] == "integer"
    assert bounds_documented(hours, 1, 168)
    device_hours = param(openapi, "/api/v1/metrics/device-state-history/{device_id}", "hours")
    assert bounds_documented(device_hours, 1, 720)
    assert not bounds_documented(device_hours, 1, 168)
    device_id = param(openapi, "/api/v1/metrics/device-state-history/{device_id}", "device_id")
    assert device_id["in"] == "path"
    assert device_id["required"] is True


def test_schema_is_also_served_as_json(db):
    response = APIClient().get("/api/schema/", {"format": "json"})
    assert response.status_code == 200
    assert set(response.json()["paths"]) == api_paths_from_urlconf()


def test_schema_declares_the_api_key_security_scheme(openapi):
    schemes = openapi.get("components", {}).get("securitySchemes", {})
    assert any(
        s.get("scheme") == "bearer" or (s.get("type") == "apiKey" and s.get("name") == "X-API-Key")
        for s in schemes.values()
    )


def test_schema_documents_the_metrics_response_bodies(openapi):
    for path in EXPECTED_PATHS:
        if "/metrics/" in path:
            ok = openapi["paths"][path]["get"]["responses"]["200"]
            assert "content" in ok, path


def test_docs_page_is_html(db):
    response = APIClient().get("/api/docs/")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    assert b"swagger" in response.content.lower()
