"""Whatever a client sends to the Sentry endpoints, the answer is a 2xx or a 4xx, never a
5xx: generated envelopes, events of any shape, bytes cut anywhere."""

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rest_framework.test import APIClient

from apps.keys import authentication

from .helpers import STORE, envelope, event_envelope, exception_event, post_envelope

pytestmark = pytest.mark.django_db

FIELDS = [
    "event_id",
    "timestamp",
    "level",
    "platform",
    "message",
    "logentry",
    "exception",
    "stacktrace",
    "threads",
    "tags",
    "user",
    "request",
    "release",
    "environment",
    "fingerprint",
    "contexts",
    "extra",
    "breadcrumbs",
    "sdk",
    "transaction",
    "type",
]
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.sampled_from(FIELDS[:12]) | st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)
events = st.dictionaries(st.sampled_from(FIELDS), json_values, max_size=8)
ACCEPTABLE = {200, 400}
FUZZ = settings(
    max_examples=100,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.fixture
def client() -> APIClient:
    """One client for all of a test's examples: a new one loads every middleware again."""
    return APIClient()


@pytest.fixture(autouse=True)
def _no_rate_limits():
    from apps.keys.throttling import KeyRateThrottle

    rates = KeyRateThrottle.THROTTLE_RATES
    KeyRateThrottle.THROTTLE_RATES = {"ingest": "1000000/min", "read": "1000000/min"}
    authentication._valid_keys.clear()
    yield
    KeyRateThrottle.THROTTLE_RATES = rates


@FUZZ
@given(event=events)
def test_an_event_of_any_shape_is_stored_or_refused_by_name(ingest_key, client, event):
    response = post_envelope(
        envelope(({"type": "event"}, orjson.dumps(event))), key=ingest_key, client=client
    )
    assert response.status_code in ACCEPTABLE, response.content
    assert response.json()


@FUZZ
@given(event=events)
def test_the_store_endpoint_takes_any_shape_too(ingest_key, client, event):
    response = post_envelope(orjson.dumps(event), key=ingest_key, client=client, path=STORE)
    assert response.status_code in ACCEPTABLE, response.content


@FUZZ
@given(data=st.data())
def test_an_envelope_cut_or_spliced_anywhere_is_never_a_5xx(ingest_key, client, data):
    body = event_envelope(exception_event()) + envelope(({"type": "session"}, {"sid": "s"}))
    start = data.draw(st.integers(0, len(body)))
    end = data.draw(st.integers(start, len(body)))
    insert = data.draw(st.binary(max_size=8))
    mutated = body[:start] + insert + body[end:]
    response = post_envelope(mutated, key=ingest_key, client=client)
    assert response.status_code in ACCEPTABLE, response.content


@FUZZ
@given(headers=st.lists(st.dictionaries(st.text(max_size=6), json_values, max_size=4), max_size=4))
def test_item_headers_of_any_shape_are_never_a_5xx(ingest_key, client, headers):
    body = b"{}\n" + b"".join(orjson.dumps(h) + b"\n{}\n" for h in headers)
    response = post_envelope(body, key=ingest_key, client=client)
    assert response.status_code in ACCEPTABLE, response.content
