import importlib
import os
import re
import uuid

import psycopg
import pytest
from django.conf import settings
from django.db.backends.postgresql.operations import DatabaseOperations
from redis import RedisError
from rest_framework.test import APIClient

from apps.core.redis import get_redis
from apps.keys.services import api_key_create

# --- Redis: a db and a namespace of this run's own ----------------------------------
# Without this the suite wrote into the development stack's Redis (db 0): a `make run`
# after `make test` processed thousands of queued test tasks. The run uses TEST_REDIS_URL
# (db 15 by default) under REDIS_KEY_PREFIX=test<pid>, so two runs at once never meet
# either, and deletes its keys at the end. Django's settings are loaded before any
# conftest (pytest-django sets Django up first), so they are read again here, from the
# same settings.py, with the test values in the environment: every name derived from
# REDIS_URL and REDIS_KEY_PREFIX (cache, channel layer, Celery's queues) follows, and
# the processes a live test starts inherit the prefix.
TEST_REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
RUN_PREFIX = f"test{os.getpid()}"


def _use_a_redis_namespace_of_this_run() -> None:
    os.environ["REDIS_URL"] = os.environ["CELERY_BROKER_URL"] = TEST_REDIS_URL
    os.environ["REDIS_KEY_PREFIX"] = RUN_PREFIX
    module = importlib.reload(importlib.import_module(settings.SETTINGS_MODULE))
    for name in dir(module):
        # Only what changed (the Redis names); DATABASES stays the dict Django's
        # connections hold, which Django filled in with its defaults.
        if name == "DATABASES" or not name.isupper():
            continue
        if getattr(settings, name, None) != getattr(module, name):
            setattr(settings, name, getattr(module, name))
    get_redis.cache_clear()
    from analytics_project.celery import app

    app.conf.update(
        broker_url=settings.CELERY_BROKER_URL,
        broker_transport_options=settings.CELERY_BROKER_TRANSPORT_OPTIONS,
    )


_use_a_redis_namespace_of_this_run()
RUN_NAMESPACE = settings.REDIS_NAMESPACE


# --- Emptying the tables after a transactional test ------------------------------------
# Django empties every table with one TRUNCATE. A table partitioned by day has ~100
# partitions with their indexes, and TRUNCATE gives each a new file: 0.42 s for the two
# event tables, paid after every transactional test. DELETE finds them empty in ~50 ms.
# A partitioned table with a foreign key (health checks) stays in the TRUNCATE: the table
# it references cannot be truncated without it.
_truncate = DatabaseOperations.sql_flush


def _sql_flush(self, style, tables, *, reset_sequences=False, allow_cascade=False):
    if reset_sequences:  # identities restarted: TRUNCATE's job
        return _truncate(self, style, tables, reset_sequences=True, allow_cascade=allow_cascade)
    with self.connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname FROM pg_partitioned_table p JOIN pg_class c ON c.oid = p.partrelid "
            "WHERE NOT EXISTS (SELECT 1 FROM pg_constraint f "
            "WHERE f.conrelid = p.partrelid AND f.contype = 'f')"
        )
        partitioned = {row[0] for row in cursor.fetchall()}
    rest = [table for table in tables if table not in partitioned]
    deletes = [f"DELETE FROM {self.quote_name(table)};" for table in tables if table in partitioned]
    return deletes + _truncate(self, style, rest, allow_cascade=allow_cascade)


DatabaseOperations.sql_flush = _sql_flush


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    """The test database as migrated, then connections opened afresh: the one that ran
    the migrations still has the defaults from before them (ingest.0004 turns JIT off
    for every new connection)."""
    from django.db import connections

    with django_db_blocker.unblock():
        for conn in connections.all():
            conn.close()


def _delete_keys(pattern: str) -> None:
    client = get_redis()
    keys = list(client.scan_iter(match=pattern, count=1000))
    for start in range(0, len(keys), 1000):
        client.delete(*keys[start : start + 1000])


def pytest_sessionstart(session) -> None:
    """Keys of runs killed before their end: deleted, as their databases are dropped."""
    try:
        prefixes = {
            match[1]
            for key in get_redis().scan_iter(match="test*:*", count=1000)
            if (match := re.match(rb"test(\d+):", key)) and not _alive(int(match[1]))
        }
        for pid in prefixes:
            _delete_keys(f"test{pid.decode()}:*")
    except RedisError:
        pass  # Redis down: the tests that need it say so


def pytest_sessionfinish(session, exitstatus) -> None:
    try:
        _delete_keys(f"{RUN_PREFIX}:*")
    except RedisError:
        pass


@pytest.fixture(autouse=True)
def _own_redis_namespace(settings):
    """Each test's keys (rate limits, smart filter, heartbeats, counters, the live feed's
    lock) under a namespace of its own inside the run's, deleted after it. The cache,
    the channel layer and Celery's queues are fixed at start-up: they are the run's."""
    settings.REDIS_NAMESPACE = f"{RUN_NAMESPACE}:{uuid.uuid4().hex[:12]}"
    yield settings.REDIS_NAMESPACE
    try:
        _delete_keys(f"{settings.REDIS_NAMESPACE}:*")
    except RedisError:
        pass


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
def live_stack(tmp_path, transactional_db):
    """What a client SDK's live test sends to: a private Redis, gunicorn (one worker) and
    a Celery worker on the test database, as `make run` starts them (tests/live.py)."""
    from tests.live import Stack

    stack = Stack(tmp_path)
    try:
        stack.start_redis()
        stack.start_web(workers=1)
        stack.start_worker()
        yield stack
    finally:
        stack.close()


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


@pytest.fixture
def browser(live_server, monkeypatch):
    """Headless Chromium on the live server (tests/browser.py); fails the test on any
    console error or request leaving 127.0.0.1."""
    from tests.browser import open_browser

    # Playwright's sync API runs an event loop in this thread; the ORM calls the test
    # makes between page actions are still plain synchronous calls.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with open_browser(live_server.url) as opened:
        yield opened
        assert not opened.errors, opened.errors


@pytest.fixture
def browser_superuser(django_user_model):
    """A superuser whose password is tests.browser.PASSWORD."""
    from tests.browser import PASSWORD

    return django_user_model.objects.create_superuser(username="oncall", password=PASSWORD)
