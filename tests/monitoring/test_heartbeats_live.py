"""A stopped Celery worker and a stopped beat, with the real processes: the public health
answer says so within two heartbeat intervals, and recovers when they come back."""

import os
import signal
import time
import urllib.error
import urllib.request

import orjson
import pytest

from tests.live import Stack, wait_until

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True), pytest.mark.timeout(180)]

INTERVAL = 2  # seconds between signs of life in this test's processes


def health(base: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(f"{base}/api/v1/analytics/health", timeout=5) as response:
            return response.status, orjson.loads(response.read())
    except urllib.error.HTTPError as error:  # 503 carries the same body
        return error.code, orjson.loads(error.read())


def parts(base: str) -> dict[str, bool]:
    return health(base)[1]["services"]


def detection_seconds(base: str, part: str) -> float:
    """Seconds from now until the health answer reports `part` down."""
    started = time.monotonic()
    wait_until(lambda: not parts(base)[part], timeout=10 * INTERVAL, interval=0.05, what=part)
    return time.monotonic() - started


def steady(base: str, seconds: float) -> list[dict]:
    """Every answer over `seconds`: a part that is up must not blink."""
    answers, end = [], time.monotonic() + seconds
    while time.monotonic() < end:
        answers.append(parts(base))
        time.sleep(0.1)
    return answers


@pytest.fixture
def stack(tmp_path, monkeypatch):
    monkeypatch.setitem(os.environ, "MONITORING_HEARTBEAT_SECONDS", str(INTERVAL))
    stack = Stack(tmp_path)
    try:
        stack.start_redis()
        yield stack
    finally:
        stack.close()


def test_a_killed_worker_and_a_stopped_beat_are_seen_within_two_intervals(stack):
    base = stack.start_web(workers=1)
    stack.start_worker()
    stack.start_beat()
    wait_until(lambda: all(parts(base).values()), timeout=30, what="every part up")
    up = steady(base, 3 * INTERVAL)
    assert all(all(answer.values()) for answer in up), "a live part was reported down"

    stack.kill("worker")  # SIGKILL: no goodbye, only the silence
    assert detection_seconds(base, "celery") <= 2 * INTERVAL + 0.5
    status, body = health(base)
    assert (status, body["status"]) == (200, "degraded")

    stack.start_worker()
    wait_until(lambda: parts(base)["celery"], timeout=30, what="the new worker's sign")

    stack.stop("beat", sig=signal.SIGKILL)
    assert detection_seconds(base, "celery_beat") <= 2 * INTERVAL + 0.5
    assert parts(base) == {
        "database": True,
        "redis": True,
        "celery": True,
        "celery_beat": False,
        "periodic_tasks": True,
    }

    stack.start_beat()
    wait_until(lambda: all(parts(base).values()), timeout=30, what="beat's sign again")


def test_a_worker_stopped_cleanly_is_gone_at_once_and_the_builtin_check_agrees(stack):
    base = stack.start_web(workers=1)
    stack.manage_ok("install_monitoring_checks")
    stack.start_worker()
    wait_until(lambda: parts(base)["celery"], timeout=30, what="the worker's sign")
    assert "celery-workers: healthy" in stack.manage_ok("run_health_checks", "--once")

    stack.stop("worker")  # SIGTERM: a warm shutdown takes its sign with it
    assert not parts(base)["celery"]
    found = stack.manage_ok("run_health_checks", "--once")
    assert "celery-workers: unhealthy" in found
    assert "celery-beat: unhealthy" in found
