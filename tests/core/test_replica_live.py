"""Reads on a real PostgreSQL streaming replica (DATABASE_REPLICA_URL), as a deployment
that moved its reads off the primary runs them: a primary and its replica made for this
test (initdb, pg_basebackup -R), gunicorn and a worker on the primary with the replica
for reads. The API's reads run on the replica; with its replay paused and the lag past
DATABASE_REPLICA_MAX_LAG_SECONDS the primary answers, and the replica again once it
caught up; a stopped replica falls back at once; beat's figure records the lag."""

import shutil
import subprocess
import tempfile
from pathlib import Path

import psycopg
import pytest
from django.db import connection

from bench.stack.postgres import BIN as POSTGRES_BIN
from bench.stack.postgres import Cluster, server_programs_missing
from tests.live import Stack, api_call, wait_until

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True), pytest.mark.timeout(240)]

EVENTS = "/api/v1/analytics/events?page_size=100"


@pytest.fixture
def clusters():
    if missing := server_programs_missing():
        pytest.skip(missing)
    base = Path(tempfile.mkdtemp(prefix="replica-"))
    base.chmod(0o777)
    primary, replica = Cluster(base, "primary"), Cluster(base, "replica")
    try:
        primary.init()
        primary.start()
        # The app's schema: the test database's, migrated already, copied over.
        db = connection.settings_dict
        schema = subprocess.run(
            [f"{POSTGRES_BIN}/pg_dump", "-h", db["HOST"], "-p", str(db["PORT"]), "-U", db["USER"]]
            + ["--no-owner", db["NAME"]],
            capture_output=True,
            check=True,
            timeout=120,
        ).stdout
        psycopg.connect(primary.url("postgres"), autocommit=True).execute("CREATE DATABASE app")
        subprocess.run(
            ["psql", "-q", "-v", "ON_ERROR_STOP=1", primary.url()],
            input=schema,
            capture_output=True,
            check=True,
            timeout=120,
        )
        replica.replicate(primary)
        replica.start()
        yield primary, replica
    finally:
        replica.stop()
        primary.stop()
        shutil.rmtree(base, ignore_errors=True)


def test_reads_run_on_the_replica_and_fall_back_to_the_primary(clusters, tmp_path):
    primary, replica = clusters
    stack = Stack(tmp_path, database_url=primary.url())
    stack.overrides.update(DATABASE_REPLICA_URL=replica.url(), DATABASE_REPLICA_MAX_LAG_SECONDS="2")
    try:
        stack.start_redis()
        stack.start_web(workers=1)
        stack.start_worker()
        writer = stack.manage_ok("create_api_key", "app").strip().splitlines()[-1]
        reader = (
            stack.manage_ok("create_api_key", "board", "--scope", "read").strip().splitlines()[-1]
        )

        def send(user: str) -> None:
            body = [{"event_type": "page_view", "user_id": user}]
            sent = api_call(stack.web_port, "POST", "/api/v1/analytics/events", writer, body)
            assert sent[0] == 202
            wait_until(
                lambda: primary.sql(f"SELECT count(*) FROM events_event WHERE user_id = '{user}'")[
                    0
                ][0],
                timeout=30,
                what=f"{user}'s event on the primary",
            )

        def users() -> list[str]:
            status, body = api_call(stack.web_port, "GET", EVENTS, reader)
            assert status == 200, body
            return sorted(e["user_id"] for e in body["results"])

        def replica_health() -> tuple[str, bool]:
            status, body = api_call(stack.web_port, "GET", "/api/v1/analytics/health", reader)
            assert status == 200, body
            return body["status"], body["services"]["database_replica"]

        # Reads run on the replica: the web process's connection there ran them.
        send("ann")
        wait_until(lambda: users() == ["ann"], timeout=30, what="ann read")
        ran = replica.sql(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = 'app' "
            "AND backend_type = 'client backend' AND query LIKE '%events_event%'"
        )[0][0]
        assert ran >= 1

        # Replay paused: the replica falls behind; past 2 s the primary answers.
        replica.sql("SELECT pg_wal_replay_pause()")
        send("bob")
        wait_until(lambda: users() == ["ann", "bob"], timeout=30, what="the primary answers")
        assert [r[0] for r in replica.sql("SELECT user_id FROM events_event")] == ["ann"]
        assert stack.logged("web", "reads run on the primary: the replica is not used while it is")
        # Health says so (beat is not running here, so degraded is what it says anyway).
        assert replica_health()[1] is False

        # Replay resumed: the replica is read again.
        replica.sql("SELECT pg_wal_replay_resume()")
        back = "reads run on the replica again"  # it is asked again as reads come
        wait_until(lambda: users() and stack.logged("web", back), timeout=30, what=back)
        assert users() == ["ann", "bob"]
        assert replica_health()[1] is True

        # A lag figure beat records; then the replica stopped: the primary answers at once.
        lag = stack.manage_ok(
            "shell",
            "-c",
            "from apps.monitoring.system import replica_record; print(replica_record())",
        )
        assert float(lag.strip().splitlines()[-1]) < 2
        replica.stop()
        send("cy")
        answers = []  # a read on its way to the stopped replica is a 503 to retry

        def fresh() -> bool:
            status, body = api_call(stack.web_port, "GET", EVENTS, reader)
            answers.append(status)
            return status == 200 and len(body["results"]) == 3

        wait_until(fresh, timeout=30, what="the primary alone")
        assert set(answers) <= {200, 503} and answers.count(503) <= 4, answers
        assert stack.logged("web", "the replica is not used while it does not answer")
        down = stack.manage_ok(
            "shell",
            "-c",
            "from apps.monitoring.system import replica_record; print(replica_record())",
        )
        assert down.strip().splitlines()[-1] == "None"
    finally:
        stack.close()
