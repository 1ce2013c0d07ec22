"""Odd shapes a hostile or careless client sends to the SDK protocols' endpoints (OTLP
JSON, Sentry, PostHog): NUL bytes, numbers past 64 bits, deep nesting, dates that
overflow. Each answer is a 2xx or a clear JSON 4xx, never a 500."""

import json
import time

import pytest
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db

NUL = "a\u0000b"
HUGE = 10**40
DEEP = json.loads("[" * 300 + "]" * 300)
DATES = ["9999-12-31T23:59:59Z", "0001-01-01T00:00:00Z", "2026-13-45T99:99:99Z", "-1"]


def otlp_logs(body_value, time_value) -> dict:
    record = {"timeUnixNano": time_value, "severityNumber": 17, "body": body_value}
    return {"resourceLogs": [{"scopeLogs": [{"logRecords": [record]}]}]}


def otlp_gauge(value, time_value) -> dict:
    point = {"timeUnixNano": time_value, "asDouble": value, "attributes": [
        {"key": NUL, "value": {"stringValue": NUL}}]}  # fmt: skip
    metric = {"name": NUL, "gauge": {"dataPoints": [point]}}
    return {"resourceMetrics": [{"scopeMetrics": [{"metrics": [metric]}]}]}


def sentry_event(**fields) -> dict:
    return {"event_id": "0" * 31 + "1", "exception": {"values": [{"type": NUL, "value": NUL}]},
            **fields}  # fmt: skip


def posthog_batch(**fields) -> dict:
    return {"batch": [{"event": NUL, "distinct_id": NUL, "properties": {"x": DEEP}, **fields}]}


def cases(key: str) -> list[tuple[str, dict, bytes]]:
    found = []
    for value in (NUL, {"stringValue": NUL}, {"intValue": str(HUGE)}, {"kvlistValue": DEEP}):
        for time_value in ("1", str(HUGE), "-5", NUL):
            found.append(("/otlp/v1/logs", {"HTTP_X_API_KEY": key},
                          json.dumps(otlp_logs(value, time_value)).encode()))  # fmt: skip
    now_ns = str(time.time_ns())
    for value in (HUGE, -HUGE, 1e308, NUL):
        for time_value in (str(HUGE), now_ns, "0"):
            found.append(("/otlp/v1/metrics", {"HTTP_X_API_KEY": key},
                          json.dumps(otlp_gauge(value, time_value)).encode()))  # fmt: skip
    for when in [None, *DATES, HUGE, -HUGE, NUL]:  # None: no timestamp sent
        dated = {} if when is None else {"timestamp": when}
        for extra in ({}, {"tags": {NUL: NUL}, "user": {"id": HUGE}, "level": DEEP},
                      {"exception": DEEP}, {"breadcrumbs": {"values": DEEP}},
                      {"request": {"url": NUL, "headers": DEEP}}):  # fmt: skip
            body = json.dumps(sentry_event(**extra, **dated)).encode()
            found.append((f"/api/42/store/?sentry_key={key}", {}, body))
        for uuid in (NUL, "00000000-0000-0000-0000-000000000001", HUGE):
            found.append(("/capture/", {}, json.dumps({"api_key": key, **posthog_batch(
                uuid=uuid, **dated)}).encode()))  # fmt: skip
    sane = {"event": "$pageview", "distinct_id": "u1"}
    for properties in ({"x": DEEP}, {"$current_url": NUL, NUL: HUGE}, {"$set": DEEP}):
        batch = [{**sane, "properties": properties}]
        found.append(("/batch/", {}, json.dumps({"api_key": key, "batch": batch}).encode()))
    found.append(("/batch/", {}, json.dumps({"api_key": key, "batch": DEEP}).encode()))
    found.append(("/batch/", {}, b'{"api_key": "' + key.encode() + b'", "batch": [\x00]}'))
    found.append((f"/api/{HUGE}/envelope/?sentry_key={key}", {}, b"{}\n"))
    return found


def test_odd_shapes_are_answered_never_a_500(ingest_key):
    client = APIClient()
    for path, headers, body in cases(ingest_key):
        response = client.post(path, body, content_type="application/json", **headers)
        assert response.status_code < 500, (path, body[:200], response.content[:300])
        if response.status_code >= 400:
            assert response["Content-Type"].startswith("application/"), (path, response)
