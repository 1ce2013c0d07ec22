"""The pipeline with real processes: a killed worker, a dead broker, a cut database.

Each test starts its own Redis, gunicorn and Celery worker against the test
database and checks: rows stored == items accepted, and no duplicates.
"""

import http.client
import time
from concurrent.futures import ThreadPoolExecutor

import orjson
import pytest

from apps.ingest.models import OutboxBatch
from apps.jobs.models import JobOutcome
from apps.keys.services import api_key_create
from apps.metrics.models import MetricPoint
from tests.helpers import new_id
from tests.live import Stack, wait_until

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True), pytest.mark.timeout(240)]

PATH = "/api/v1/analytics/job-outcome"


@pytest.fixture
def stack(tmp_path):
    stack = Stack(tmp_path)
    yield stack
    stack.close()


def post(
    port: int, key: str, items: list[dict], *, retries: int = 20, path: str = PATH
) -> tuple[int, dict]:
    """POST like a well-behaved client: honour 503 + Retry-After, then give up."""
    body = orjson.dumps({"batch": items})
    for _ in range(retries):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        try:
            conn.request("POST", path, body, {"Content-Type": "application/json", "X-API-Key": key})
            response = conn.getresponse()
            status, data = response.status, orjson.loads(response.read() or b"{}")
        except (ConnectionError, http.client.HTTPException):
            status, data = 0, {}
        finally:
            conn.close()
        if status not in (0, 503):
            return status, data
        time.sleep(0.5)
    return status, data


def batches(count: int, size: int) -> list[list[dict]]:
    return [
        [
            {"event_id": new_id(), "job_type": "sync", "status": "success", "duration_ms": i}
            for i in range(size)
        ]
        for _ in range(count)
    ]


def settle(stack: Stack, expected: int, timeout: float = 90) -> None:
    """Let the sweeper re-queue whatever lost its task until every accepted row is stored."""

    def done():
        if OutboxBatch.objects.exists():
            stack.manage("sweep_outbox", "--stale-seconds", "0")
            return False
        return JobOutcome.objects.count() >= expected

    wait_until(done, timeout=timeout, interval=0.5, what="outbox to drain")


def assert_exactly_once(sent: list[list[dict]]) -> None:
    expected = {item["event_id"] for batch in sent for item in batch}
    stored = [str(e) for e in JobOutcome.objects.values_list("event_id", flat=True)]
    assert len(stored) == len(expected)  # rows == accepted
    assert set(stored) == expected  # none lost, none doubled


def test_killing_the_worker_mid_ingest_loses_and_doubles_nothing(stack):
    stack.start_redis()
    stack.start_web()
    stack.start_worker()
    key = api_key_create(name="live", scope="ingest")[1]
    sent = batches(40, 250)

    def send(indexed):
        i, items = indexed
        if i == 12:
            stack.kill("worker")  # kill -9, tasks in flight
        if i == 24:
            stack.start_worker("worker2")
        return post(stack.web_port, key, items)

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(send, enumerate(sent)))

    assert [status for status, _ in results] == [202] * len(sent)
    assert sum(body["accepted"] for _, body in results) == 40 * 250
    settle(stack, 40 * 250)
    assert_exactly_once(sent)


def test_metric_points_partitioned_by_day_sent_twice_with_a_worker_killed_are_stored_once(
    stack,
):
    """The partitioned table's idempotency (event keys) under the same fault: every
    batch sent twice, the worker killed with tasks in flight."""
    stack.start_redis()
    stack.start_web()
    stack.start_worker()
    key = api_key_create(name="live", scope="ingest")[1]
    sent = [
        [
            {
                "event_id": new_id(),
                "metric_name": "fault.points",
                "metric_type": "gauge",
                "value": i,
            }
            for i in range(250)
        ]
        for _ in range(20)
    ]

    def send(indexed):
        i, items = indexed
        if i == 12:
            stack.kill("worker")
        if i == 24:
            stack.start_worker("worker2")
        return post(stack.web_port, key, items, path="/api/v1/analytics/metrics/record")

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(send, enumerate(sent + sent)))
    assert [status for status, _ in results] == [202] * 40

    def stored() -> bool:
        if OutboxBatch.objects.exists():
            stack.manage("sweep_outbox", "--stale-seconds", "0")
            return False
        return True

    wait_until(stored, timeout=90, interval=0.5, what="outbox to drain")
    expected = {item["event_id"] for batch in sent for item in batch}
    points = [str(e) for e in MetricPoint.objects.values_list("event_id", flat=True)]
    assert len(points) == len(expected) and set(points) == expected


def test_redis_outage_during_ingest_loses_nothing(stack):
    stack.start_redis()
    stack.start_web()
    stack.start_worker()
    key = api_key_create(name="live", scope="ingest")[1]
    sent = batches(30, 200)
    statuses = []
    for i, items in enumerate(sent):
        if i == 10:
            stack.stop_redis()
        if i == 20:
            stack.start_redis()
        statuses.append(post(stack.web_port, key, items)[0])

    # While Redis was down the web kept answering 202: the outbox held the data.
    assert statuses == [202] * len(sent)
    settle(stack, 30 * 200)
    assert_exactly_once(sent)


def test_database_connections_cut_mid_ingest_lose_nothing(stack):
    stack.start_redis()
    stack.start_web()
    stack.start_worker()
    key = api_key_create(name="live", scope="ingest")[1]
    sent = batches(30, 200)

    def send(indexed):
        i, items = indexed
        if i in (8, 18):
            stack.cut_database_connections()  # what a PostgreSQL restart does to clients
        return post(stack.web_port, key, items)

    with ThreadPoolExecutor(3) as pool:
        results = list(pool.map(send, enumerate(sent)))

    assert [status for status, _ in results] == [202] * len(sent)
    settle(stack, 30 * 200)
    assert_exactly_once(sent)


def test_database_down_answers_503_with_retry_after(tmp_path, db):
    from tests.live import free_port

    stack = Stack(tmp_path, database_url=f"postgres://postgres@127.0.0.1:{free_port()}/nowhere")
    try:
        stack.start_redis()
        stack.start_web(workers=1)
        for method, path, body in [
            ("POST", PATH, b'{"job_type": "x", "status": "success"}'),
            ("GET", "/api/v1/metrics/job-outcomes?hours=1", None),
        ]:
            conn = http.client.HTTPConnection("127.0.0.1", stack.web_port, timeout=30)
            conn.request(
                method,
                path,
                body,
                # Well formed, so it is looked up in the (unreachable) database.
                {"Content-Type": "application/json", "X-API-Key": "abcdefgh." + "x" * 32},
            )
            response = conn.getresponse()
            assert response.status == 503
            assert int(response.getheader("Retry-After")) > 0
            assert orjson.loads(response.read())["error"] == "service_unavailable"
            conn.close()
    finally:
        stack.close()
