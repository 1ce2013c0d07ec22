"""The real sentry-sdk (pinned in requirements/dev.txt), pointed at a stack started as
`make run` starts it, with a DSN made of an ingest key: what it captures lands as error
rows, secrets excluded, and the error reads count them."""

import http.client
import subprocess
import sys
import textwrap
import urllib.request

import orjson
import pytest

from apps.errors.models import ErrorLog
from tests.live import ROOT, Stack, free_port, wait_until

from .helpers import event_envelope, exception_event, sentry_auth

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True), pytest.mark.timeout(180)]

# Run in a process of its own: the SDK hooks logging, threads and excepthook globally.
SCRIPT = textwrap.dedent(
    """
    import sys
    import sentry_sdk

    dsn = sys.argv[1]

    def price(amount, count):
        token = "LIVEFRAMESECRET"  # a local the SDK sends among the frame's vars
        return amount / count

    # The SDK's defaults: brotli compression where the module is installed (it is here).
    sentry_sdk.init(dsn=dsn, release="shop@2.0.0", environment="staging")
    print("compression", sentry_sdk.get_client().transport._compression_algo)
    sentry_sdk.set_tag("region", "eu")
    sentry_sdk.set_user({"id": "u-live"})
    try:
        price(10, 0)
    except ZeroDivisionError:
        print("exception", sentry_sdk.capture_exception())
    sentry_sdk.flush(timeout=10)

    # An older SDK's gzip, as the SDK sends it without brotli.
    sentry_sdk.init(dsn=dsn, _experiments={"transport_compression_algo": "gzip"})
    print("message", sentry_sdk.capture_message("cache is cold", level="warning"))
    sentry_sdk.flush(timeout=10)
    """
)


def run_sdk(dsn: str) -> dict[str, str]:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, dsn],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin"},
    )
    assert done.returncode == 0, done.stderr
    return dict(line.split(" ", 1) for line in done.stdout.splitlines())


def get(port: int, path: str, key: str) -> dict:
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", headers={"X-API-Key": key})
    with urllib.request.urlopen(request, timeout=20) as response:
        return orjson.loads(response.read())


def test_the_python_sdk_lands_exceptions_and_messages_as_errors(live_stack, ingest_key, read_key):
    sent = run_sdk(f"http://{ingest_key}@127.0.0.1:{live_stack.web_port}/42")
    assert sent["compression"] == "br"

    wait_until(
        lambda: ErrorLog.objects.count() >= 2,
        timeout=60,
        interval=0.2,
        what=f"two errors from the SDK\n{live_stack.tail('web')}\n{live_stack.tail('worker')}",
    )
    errors = {e.event_id.hex: e for e in ErrorLog.objects.all()}
    assert set(errors) == {sent["exception"], sent["message"]}
    exception, message = errors[sent["exception"]], errors[sent["message"]]
    assert exception.error_message == "ZeroDivisionError: division by zero"
    assert exception.stack_trace.startswith("Traceback (most recent call last):")
    assert exception.stack_trace.index("price") > exception.stack_trace.index("<module>")
    assert exception.context["tags"]["region"] == "eu"
    assert exception.context["tags"]["project_id"] == "42"
    assert (exception.context["release"], exception.context["environment"]) == (
        "shop@2.0.0",
        "staging",
    )
    assert exception.user_id == "u-live"
    frames = exception.context["exception"][0]["frames"]
    assert frames[-1]["function"] == "price"
    assert frames[-1]["vars"]["token"] == "[redacted]"
    assert "LIVEFRAMESECRET" not in orjson.dumps(exception.context).decode()
    assert (message.error_message, message.severity) == ("cache is cold", "warning")

    trends = get(live_stack.web_port, "/api/v1/metrics/error-trends?hours=1", read_key)
    assert trends["total_errors"] == 2
    assert trends["by_severity"]["error"] == 1
    assert trends["by_severity"]["warning"] == 1


def test_database_down_answers_503_with_retry_after(tmp_path, db):
    stack = Stack(tmp_path, database_url=f"postgres://postgres@127.0.0.1:{free_port()}/nowhere")
    try:
        stack.start_redis()
        stack.start_web(workers=1)
        conn = http.client.HTTPConnection("127.0.0.1", stack.web_port, timeout=30)
        # Well formed, so it is looked up in the (unreachable) database.
        key = "abcdefgh." + "x" * 32
        conn.request(
            "POST",
            "/api/42/envelope/",
            event_envelope(exception_event()),
            {"X-Sentry-Auth": sentry_auth(key), "Content-Type": "application/x-sentry-envelope"},
        )
        response = conn.getresponse()
        assert response.status == 503
        assert int(response.getheader("Retry-After")) > 0
        assert orjson.loads(response.read())["error"] == "service_unavailable"
        conn.close()
    finally:
        stack.close()
