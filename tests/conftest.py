import os

import psycopg
import pytest
from rest_framework.test import APIClient

from apps.keys.services import api_key_create


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings_parallel_suffix) -> None:
    """A test database of this run's own (test_analytics_run<pid>), so two test runs on one
    machine (two checkouts, an editor's runner beside CI) never drop each other's tables."""
    from django.conf import settings

    db = settings.DATABASES["default"]
    base = db.get("TEST", {}).get("NAME") or f"test_{db['NAME']}"
    _drop_databases_of_dead_runs(db, prefix=f"{base}_run")
    db.setdefault("TEST", {})["NAME"] = f"{base}_run{os.getpid()}"


def _drop_databases_of_dead_runs(db: dict, *, prefix: str) -> None:
    """A run killed before its teardown leaves its database behind: drop those."""
    params = {"host": db["HOST"], "port": db["PORT"], "user": db["USER"], "dbname": "postgres"}
    if db["PASSWORD"]:
        params["password"] = db["PASSWORD"]
    with psycopg.connect(autocommit=True, connect_timeout=3, **params) as conn:
        names = [
            row[0]
            for row in conn.execute(
                "SELECT datname FROM pg_database WHERE starts_with(datname, %s)", [prefix]
            )
        ]
        for name in names:
            pid = name.removeprefix(prefix)
            if pid.isdigit() and not _alive(int(pid)):
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@pytest.fixture(autouse=True)
def _own_ingest_counters(settings):
    # Counters live in Redis, which concurrent runs on one machine share: each run
    # counts into a hash of its own, so a test comparing counts sees only its run's.
    settings.INGEST_COUNTS_KEY = f"test:ingest:items:{os.getpid()}"
    yield
    from redis import RedisError

    from apps.core.redis import get_redis

    try:
        get_redis().delete(settings.INGEST_COUNTS_KEY)
    except RedisError:
        pass


@pytest.fixture(autouse=True)
def _no_request_logging(settings):
    # The middleware's flusher thread writes through its own connection; tests
    # that exercise it switch it on explicitly.
    settings.ANALYTICS_ENABLED = False


@pytest.fixture(autouse=True)
def _manual_buffer_flush():
    # No background flushers in tests: they flush buffers and counts when they mean it.
    from apps.ingest.buffer import buffer
    from apps.ingest.counters import counts

    buffer.flusher.thread.adopt()
    counts.flusher.thread.adopt()


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
def admin_key(db) -> str:
    return api_key_create(name="oncall-bot", scope="admin")[1]


@pytest.fixture
def admin_api_client(admin_key) -> APIClient:
    """An `admin` API key's client (pytest-django's `admin_client` is a staff session)."""
    client = APIClient()
    client.credentials(HTTP_X_API_KEY=admin_key)
    return client


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
