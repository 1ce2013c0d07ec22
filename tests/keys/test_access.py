"""Who may call what: keys by scope, staff sessions, throttling."""

import pytest
from rest_framework.test import APIClient

from apps.keys.authentication import _valid_keys
from apps.keys.models import APIKey
from apps.keys.services import api_key_create, api_key_revoke
from tests.helpers import post_json

pytestmark = pytest.mark.django_db

READ = "/api/v1/metrics/job-outcomes"
WRITE = "/api/v1/analytics/job-outcome"
ITEM = {"job_type": "backup", "status": "success"}


def test_only_a_hash_of_the_key_is_stored(ingest_key):
    stored = APIKey.objects.get()
    assert ingest_key not in {stored.hashed_key, stored.id, stored.prefix}
    assert APIKey.objects.is_valid(ingest_key)


@pytest.mark.parametrize("header", ["HTTP_AUTHORIZATION", "HTTP_X_API_KEY"])
def test_key_is_accepted_as_bearer_or_x_api_key(read_key, header):
    value = f"Bearer {read_key}" if header == "HTTP_AUTHORIZATION" else read_key

    response = APIClient().get(READ, **{header: value})

    assert response.status_code == 200


def test_no_credentials_is_401_json():
    response = APIClient().get(READ)

    assert response.status_code == 401
    assert response.json()["error"] == "not_authenticated"
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_unknown_key_is_401(db):
    response = APIClient().get(READ, HTTP_X_API_KEY="abc.def")

    assert response.status_code == 401
    assert response.json()["error"] == "not_authenticated"


def test_ingest_key_cannot_read(ingest_client):
    response = ingest_client.get(READ)

    assert response.status_code == 403
    assert response.json()["error"] == "permission_denied"


def test_read_key_cannot_write(read_client):
    assert post_json(read_client, WRITE, ITEM).status_code == 403


def test_staff_session_reads_and_plain_user_does_not(staff_client, outsider):
    assert staff_client.get(READ).status_code == 200
    client = APIClient()
    client.force_login(outsider)
    assert client.get(READ).status_code == 403


def test_revoked_key_is_refused(db):
    key, plain = api_key_create(name="leaked", scope="ingest")
    api_key_revoke(key=key)
    _valid_keys.clear()

    response = post_json(APIClient(), WRITE, ITEM, HTTP_X_API_KEY=plain)

    assert response.status_code == 401


def test_unknown_scope_cannot_be_created(db):
    with pytest.raises(ValueError):
        api_key_create(name="x", scope="superuser")


def test_per_key_throttle_answers_429_with_retry_after(monkeypatch, db):
    from apps.keys.throttling import KeyRateThrottle

    monkeypatch.setattr(KeyRateThrottle, "THROTTLE_RATES", {"ingest": "2/min", "read": "9/min"})
    first = APIClient()
    first.credentials(HTTP_X_API_KEY=api_key_create(name="a", scope="ingest")[1])
    other = APIClient()
    other.credentials(HTTP_X_API_KEY=api_key_create(name="b", scope="ingest")[1])

    codes = [post_json(first, WRITE, ITEM).status_code for _ in range(2)]
    throttled = post_json(first, WRITE, ITEM)

    assert codes == [202, 202]
    assert throttled.status_code == 429
    assert throttled.json()["error"] == "throttled"
    assert 0 < int(throttled["Retry-After"]) <= 60
    assert post_json(other, WRITE, ITEM).status_code == 202  # the limit is per key


def test_a_used_key_records_when_it_was_last_used(read_client, read_key):
    _valid_keys.clear()
    assert APIKey.objects.get().last_used_at is None

    read_client.get(READ)

    assert APIKey.objects.get().last_used_at is not None
