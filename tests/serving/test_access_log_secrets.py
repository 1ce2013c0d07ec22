"""gunicorn's access log, as `make run` writes it, never holds a credential a client put
in a URL: a Sentry SDK's `?sentry_key=` (the DSN's key, an ingest key), a heartbeat's
ping token in its path, a key in `?key=` or `?api_key=`."""

import urllib.error
import urllib.request

import pytest

from apps.keys.services import api_key_create
from apps.monitoring.models import MonitoredService
from tests.live import wait_until

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True), pytest.mark.timeout(120)]


def _get(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=10) as answer:
            return answer.status
    except urllib.error.HTTPError as refused:
        return refused.code


def test_no_credential_in_a_url_reaches_the_access_log(live_stack):
    key = api_key_create(name="sdk", scope="ingest")[1]
    beat = MonitoredService.objects.create(name="nightly", check_type="heartbeat")
    base = f"http://127.0.0.1:{live_stack.web_port}"
    requests = [
        f"{base}/api/1/envelope/?sentry_key={key.split('.')[-1]}&sentry_version=7",
        f"{base}/api/1/store/?sentry_version=7&sentry_key={key}",
        f"{base}/api/v1/analytics/monitoring/ping/{beat.ping_token}",
        f"{base}/api/v1/analytics/health?key={key}",
        f"{base}/api/v1/analytics/health?api_key={key}",
    ]

    statuses = [_get(url) for url in requests]

    assert statuses[2] == 200  # the ping was recorded, under the masked line below
    secret = key.split(".")[-1]
    wait_until(lambda: live_stack.log("web", 100_000).count("HTTP/1.1") >= 5, timeout=10)
    log = live_stack.log("web", 100_000)
    assert secret not in log and beat.ping_token not in log, log[-3000:]
    assert "/monitoring/ping/*** " in log or "/monitoring/ping/***" in log, log[-3000:]
    assert "sentry_key=***" in log, log[-3000:]
