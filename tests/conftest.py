import os

import pytest
from rest_framework.test import APIClient

from apps.keys.services import api_key_create


@pytest.fixture(autouse=True)
def _no_request_logging(settings):
    # The middleware's flusher thread writes through its own connection; tests
    # that exercise it switch it on explicitly.
    settings.ANALYTICS_ENABLED = False


@pytest.fixture(autouse=True)
def _manual_buffer_flush(monkeypatch):
    # No background flusher in tests: they call buffer.flush() when they mean it.
    from apps.ingest.buffer import buffer

    monkeypatch.setattr(buffer, "_pid", os.getpid())
    buffer.take()


@pytest.fixture
def staff_user(django_user_model):
    return django_user_model.objects.create_user(
        username="oncall", password="pw-oncall-1", is_staff=True
    )


@pytest.fixture
def outsider(django_user_model):
    return django_user_model.objects.create_user(username="outsider", password="pw-outsider-1")


@pytest.fixture
def ingest_key(db) -> str:
    return api_key_create(name="frontend", scope="ingest")[1]


@pytest.fixture
def read_key(db) -> str:
    return api_key_create(name="grafana", scope="read")[1]


@pytest.fixture
def ingest_client(ingest_key) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_X_API_KEY=ingest_key)
    return client


@pytest.fixture
def read_client(read_key) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {read_key}")
    return client


@pytest.fixture
def staff_client(staff_user) -> APIClient:
    client = APIClient()
    client.force_login(staff_user)
    return client
