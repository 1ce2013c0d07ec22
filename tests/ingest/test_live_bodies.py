"""Bodies as real HTTP clients send them, through the server `make run` starts."""

import http.client

import orjson
import pytest

from apps.jobs.models import JobOutcome
from apps.keys.services import api_key_create
from tests.helpers import drain_outbox
from tests.live import Stack

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True), pytest.mark.timeout(120)]

PATH = "/api/v1/analytics/job-outcome"


@pytest.fixture
def web(tmp_path):
    stack = Stack(tmp_path)
    stack.start_redis()
    stack.start_web(workers=1)
    yield stack
    stack.close()


def post_chunked(port: int, key: str, chunks: list[bytes], content_type: str) -> tuple[int, dict]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request(
            "POST",
            PATH,
            body=iter(chunks),
            headers={"Content-Type": content_type, "X-API-Key": key},
            encode_chunked=True,
        )
        response = conn.getresponse()
        return response.status, orjson.loads(response.read())
    finally:
        conn.close()


def test_a_chunked_json_body_is_read_whole(web):
    key = api_key_create(name="chunked", scope="ingest")[1]
    body = orjson.dumps(
        [{"job_type": "sync", "status": "success", "job_id": f"c{i}"} for i in range(50)]
    )
    chunks = [body[i : i + 100] for i in range(0, len(body), 100)]

    status, answer = post_chunked(web.web_port, key, chunks, "application/json")

    assert (status, answer["accepted"]) == (202, 50)
    drain_outbox()
    assert JobOutcome.objects.count() == 50


def test_a_chunked_ndjson_body_is_one_item_per_line(web):
    key = api_key_create(name="chunked-ndjson", scope="ingest")[1]
    lines = [orjson.dumps({"job_type": "sync", "status": "success"}) + b"\n" for _ in range(3)]

    status, answer = post_chunked(web.web_port, key, lines, "application/x-ndjson")

    assert (status, answer["accepted"]) == (202, 3)


def test_a_chunked_body_over_the_limit_is_413(web):
    key = api_key_create(name="chunked-big", scope="ingest")[1]
    filler = b" " * 64 * 1024
    chunks = [b"["] + [filler] * 20 + [b"]"]  # 1.25 MiB, never declared up front

    status, answer = post_chunked(web.web_port, key, chunks, "application/json")

    assert status == 413
    assert answer["error"] == "payload_too_large"
