"""Each item's encoding is checked (nested too deeply, too large, a NUL) a group of items at
a time (apps.ingest.validation.encoding_problems): it must refuse exactly the items that a
check of each item alone refuses, with the same reason, wherever they sit in a batch."""

import orjson
import pytest
from django.test import override_settings
from hypothesis import given, settings
from hypothesis import strategies as st

from apps.ingest.validation import ENCODE_GROUP, encoding_problems
from apps.jobs.models import JobOutcome
from tests.helpers import drain_outbox

JOBS = "/api/v1/analytics/job-outcome"
MAX_BYTES = 400


def each_alone(items: list, max_bytes: int) -> dict[int, str]:
    """The reference: every object encoded by itself."""
    problems = {}
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            continue
        try:
            encoded = orjson.dumps(item)
        except orjson.JSONEncodeError:
            problems[index] = "Nested too deeply."
            continue
        if len(encoded) > max_bytes:
            problems[index] = f"Larger than {max_bytes} bytes."
        elif b"\\u0000" in encoded:
            problems[index] = "Strings may not contain NUL characters."
    return problems


def nested(depth: int) -> dict:
    value: dict = {}
    for _ in range(depth):
        value = {"a": value}
    return value


items = st.one_of(
    st.builds(lambda n: {"job_type": "x" * n}, st.integers(0, 2 * MAX_BYTES)),
    st.builds(lambda n: {"note": "a\u0000b" * n}, st.integers(1, 3)),
    st.builds(lambda n: {"note": "a\\u0000b" * n}, st.integers(1, 3)),  # the text, no NUL
    st.builds(nested, st.sampled_from([1, 200, 254, 300])),
    st.sampled_from([1, "text", None, ["a"]]),
)


@settings(max_examples=200)
@given(st.lists(items, max_size=3 * ENCODE_GROUP))
def test_groups_refuse_what_each_item_alone_refuses(batch):
    assert encoding_problems(batch, MAX_BYTES) == each_alone(batch, MAX_BYTES)


@pytest.mark.django_db
@override_settings(INGEST_MAX_ITEM_BYTES=2048)
def test_a_batch_refuses_its_oversized_nul_and_deep_items_by_index(ingest_client):
    batch = [{"job_type": "sync", "status": "success", "job_id": f"j{n}"} for n in range(300)]
    batch[5]["error_message"] = "x" * 3000
    batch[130]["error_message"] = "before\u0000after"
    batch[299]["extra_data"] = nested(300)

    response = ingest_client.post(JOBS, {"batch": batch}, format="json")

    assert response.status_code == 202, response.content
    body = response.json()
    assert body["accepted"] == 297
    assert body["rejected"] == [
        {"index": 5, "errors": {"item": ["Larger than 2048 bytes."]}},
        {"index": 130, "errors": {"item": ["Strings may not contain NUL characters."]}},
        {"index": 299, "errors": {"item": ["Nested too deeply."]}},
    ]
    drain_outbox()
    stored = set(JobOutcome.objects.values_list("job_id", flat=True))
    assert stored == {f"j{n}" for n in range(300)} - {"j5", "j130", "j299"}
