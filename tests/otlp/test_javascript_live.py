"""The OpenTelemetry JavaScript SDK itself, under Node, with its OTLP/HTTP (JSON)
exporters pointed at a stack started as `make run` starts it by the two lines the README
gives: tests/otlp/recorded/record.js, the script the recorded bodies came from.

It needs Node and the npm packages README.md in tests/otlp/recorded names: a folder
holding their `node_modules`, named by OTEL_JS_NODE_MODULES (outside the repository).
Without them it is skipped, and
test_javascript_payloads.py posts the bodies those packages sent when recorded.
"""

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from apps.ai.models import AiUsage
from apps.errors.models import ErrorLog
from apps.metrics.models import MetricPoint
from apps.metrics.rollups import rollup_pending
from apps.requestlog.models import APIRequestLog
from tests.live import wait_until
from tests.otlp.test_javascript_payloads import RECORDED
from tests.otlp.test_sdk_live import get

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True), pytest.mark.timeout(180)]


def node_modules() -> Path | None:
    folder = Path(os.environ.get("OTEL_JS_NODE_MODULES") or "/nonexistent")
    if shutil.which("node") and (folder / "@opentelemetry" / "exporter-trace-otlp-http").is_dir():
        return folder
    return None


@pytest.mark.skipif(node_modules() is None, reason="no Node or no @opentelemetry npm packages")
def test_the_javascript_sdk_under_node_lands_every_signal(live_stack, ingest_key, read_key):
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "NODE_PATH": str(node_modules()),
        # The two lines a user sets (README): the endpoint and the key.
        "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{live_stack.web_port}/otlp",
        "OTEL_EXPORTER_OTLP_HEADERS": f"x-api-key={ingest_key}",
    }
    done = subprocess.run(
        ["node", str(RECORDED / "record.js")], capture_output=True, text=True, timeout=90, env=env
    )

    assert (done.returncode, done.stdout.strip()) == (0, "done"), done.stderr
    wait_until(
        lambda: (
            AiUsage.objects.exists()
            and APIRequestLog.objects.exists()
            and ErrorLog.objects.exists()
            and MetricPoint.objects.filter(metric_name="http.client.active_requests").count() == 2
        ),
        timeout=60,
        what="every signal stored",
    )
    usage = AiUsage.objects.get()
    assert (usage.feature, usage.model, usage.tokens_in, usage.tokens_out, usage.user_id) == (
        "chat",
        "gpt-4o-mini",
        321,
        54,
        "js-user",
    )
    assert [step["name"] for step in usage.steps] == ["execute_tool search"]
    served = APIRequestLog.objects.get()
    assert (served.method, served.route, served.status_code) == ("POST", "/checkout", 502)
    error = ErrorLog.objects.get()  # the INFO record is dropped (the default)
    assert (error.error_code, error.context["logger"]) == ("TypeError", "web-shop.checkout")
    assert error.context["trace_id"] == served.request_id  # logged inside the server span

    rollup_pending()
    orders = get(
        live_stack.web_port,
        "/api/v1/analytics/metrics/shop.orders/statistics",
        read_key,
        hours=1,
        tag="region:eu",
    )
    assert (orders["count"], orders["sum"]) == (2, 4.0)  # cumulative 4, then 4: +4, +0
    durations = get(
        live_stack.web_port,
        "/api/v1/analytics/metrics/http.client.request.duration/statistics",
        read_key,
        hours=1,
        tag="service.name:web-shop",
    )
    assert (durations["count"], durations["min"], durations["max"]) == (4, 12.0, 300.0)
    assert durations["sum"] == pytest.approx(447.5)
