"""The whole stack through a real PgBouncer in transaction pooling mode, as a deployment
that outgrew its connection count runs it: gunicorn (two processes), a Celery worker
and beat, each on `DATABASE_URL` = PgBouncer with `DATABASE_TRANSACTION_POOLING=true`.

PgBouncer (Debian's, 1.18) hands a client's next transaction to any server connection,
so whatever outlives a transaction breaks: prepared statements (psycopg prepares a query
after 5 runs on a connection), server-side cursors, session-level SETs and advisory
locks. Ingest with a retried batch, beat's rollups, grouped percentile reads asked many
times from both web processes, health and the hourly insights run all work through it.
"""

import os
import shutil
import stat
import tempfile
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from django.db import connection

from apps.events.models import Event
from apps.metrics.models import MetricPoint, MetricRollup
from tests.live import Stack, api_call, free_port, port_open, wait_until

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True), pytest.mark.timeout(180)]

PGBOUNCER = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"
METRIC = "checkout.duration_ms"

CONFIG = """[databases]
* = host={host} port={port} user={user}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {listen}
unix_socket_dir =
auth_type = any
pool_mode = transaction
default_pool_size = 4
max_client_conn = 200
ignore_startup_parameters = extra_float_digits,options
"""


@pytest.fixture
def pooled(tmp_path):
    """A stack whose processes reach the test database only through PgBouncer."""
    if not os.access(PGBOUNCER, os.X_OK):
        pytest.skip("pgbouncer is not installed: run 'sudo apt-get install pgbouncer'")
    db = connection.settings_dict
    listen = free_port()
    # PgBouncer will not run as root: it drops to `nobody`, which must read its config.
    folder = Path(tempfile.mkdtemp(prefix="pgbouncer-"))
    folder.chmod(0o755)
    config = folder / "pgbouncer.ini"
    config.write_text(
        CONFIG.format(host=db["HOST"], port=db["PORT"], user=db["USER"], listen=listen)
    )
    config.chmod(stat.S_IRUSR | stat.S_IWUSR | stat.S_IRGRP | stat.S_IROTH)
    stack = Stack(tmp_path, database_url=f"postgres://{db['USER']}@127.0.0.1:{listen}/{db['NAME']}")
    stack.overrides["DATABASE_TRANSACTION_POOLING"] = "true"
    stack.overrides["WEB_THREADS"] = "2"  # few connections, each asked the same reads often
    try:
        user = ["-u", "nobody"] if os.geteuid() == 0 else []
        stack.spawn("pgbouncer", [PGBOUNCER, *user, str(config)])
        stack.wait("pgbouncer", lambda: port_open(listen), timeout=10, what="pgbouncer")
        stack.start_redis()
        stack.start_web(workers=2)
        stack.start_worker()
        stack.manage_ok("setup_schedules")  # beat's table, as `make run` fills it
        stack.start_beat()
        yield stack
    finally:
        stack.close()
        shutil.rmtree(folder, ignore_errors=True)


def test_the_stack_works_through_pgbouncer_in_transaction_mode(pooled, ingest_key, read_key):
    now = datetime.now(UTC)
    events = [
        {"event_id": str(uuid.uuid4()), "event_type": "page_view", "user_id": f"u{i % 7}"}
        for i in range(200)
    ]
    points = [
        {
            "event_id": str(uuid.uuid4()),
            "metric_name": METRIC,
            "metric_type": "timer",
            "value": 10.0 + i,
            "tags": {"region": ("eu", "us")[i % 2]},
            "timestamp": (now - timedelta(minutes=2 + i % 20)).isoformat(),
        }
        for i in range(300)
    ]
    port, ingest = pooled.web_port, "/api/v1/analytics/events"
    for _ in range(2):  # the second time as a client retrying after a lost answer
        status, body = api_call(port, "POST", ingest, ingest_key, events)
        assert status == 202 and body["accepted"] == 200, body
        record = "/api/v1/analytics/metrics/record"
        status, body = api_call(pooled.web_port, "POST", record, ingest_key, {"batch": points})
        assert status == 202 and body["accepted"] == 300, body

    wait_until(
        lambda: Event.objects.count() == 200 and MetricPoint.objects.count() == 300,
        timeout=60,
        what="both batches stored by the worker through PgBouncer",
    )
    # Beat's rollups (an advisory lock per transaction) run through it too.
    wait_until(
        lambda: MetricRollup.objects.filter(metric_name=METRIC, resolution="m").exists(),
        timeout=60,
        what="beat's minute rollups",
    )

    # The same percentile reads, many times over, from two web processes of two threads:
    # each connection would prepare them on a server connection another one then gets.
    base = f"/api/v1/analytics/metrics/{METRIC}"
    reads = [
        f"{base}/time-series?hours=1&interval=5m&agg=p95&group_by=region",
        f"{base}/statistics?hours=1&group_by=region",
        f"{base}/time-series?hours=1&interval=1m&agg=avg",
    ]
    answers = [api_call(pooled.web_port, "GET", reads[i % 3], read_key) for i in range(90)]
    assert [status for status, _ in answers] == [200] * 90, [a for a in answers if a[0] != 200]
    stats = answers[1][1]
    assert stats["count"] == 300
    assert {g["value"]: g["count"] for g in stats["groups"]} == {"eu": 150, "us": 150}
    assert sum(b["count"] for b in answers[2][1]["buckets"]) == 300
    status, health = api_call(pooled.web_port, "GET", "/api/v1/analytics/health", read_key)
    assert status == 200 and health["services"]["database"] is True, health

    # The hourly insights run (SET LOCAL work_mem, several connections at once).
    pooled.manage_ok("rollup_dashboard")
    for name in ("web", "worker", "beat"):
        log = pooled.log(name, chars=200_000)
        assert "prepared statement" not in log and "Traceback" not in log, pooled.tail(name)
