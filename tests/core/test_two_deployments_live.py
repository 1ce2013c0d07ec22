"""Two deployments on one Redis server, as staging runs beside production: each with its
own live-feed process and the first with a Celery worker, real WebSocket clients, and a
process per deployment that uses rate limits, the smart filter, heartbeats and Celery's
remote control as the web server does. Neither sees the other's pushes, broadcaster
lock, limits, smart-filter state, queues or heartbeats, and every name either writes is
in its own namespace."""

import json
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta

import orjson
import pytest
import redis
from websockets.sync.client import ClientConnection, connect

from analytics_project.celery import app as celery_app
from tests.live import ROOT, Stack, wait_until

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True), pytest.mark.timeout(240)]

ADVANCED, DASHBOARD = "ADVANCED_ANALYTICS_STATS", "DASHBOARD_STATS"

# (db, REDIS_KEY_PREFIX) of production and of staging; None: the run's own prefix.
SETUPS = {
    "different-db-numbers": ((1, None), (2, None)),
    "one-db-different-prefixes": ((3, "production"), (3, "staging")),
}

# What a web process of the deployment does with Redis, from a process of its own.
AS_A_WEB_PROCESS = r"""
import json, sys
import django
django.setup()
from analytics_project.celery import app
from apps.devices import smartfilter
from apps.keys import throttling
from apps.monitoring import heartbeats
hits, timestamp = int(sys.argv[1]), sys.argv[2]
point = {"device_id": "boiler-1", "timestamp": timestamp, "metrics": {"temp": 70}}
print(json.dumps({
    "waits": [throttling.hit("read:key:1", 1, 60) for _ in range(hits)],
    "smart_filter": smartfilter.decide([point]),
    "workers": heartbeats.heartbeats_read()[0],
    "ping": sorted(name for reply in app.control.ping(timeout=1.5) for name in reply),
}))
"""


def client(stack: Stack) -> redis.Redis:
    return redis.Redis.from_url(stack.redis_url, socket_timeout=5)


def as_a_web_process(stack: Stack, *, hits: int) -> dict:
    timestamp = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    done = subprocess.run(
        [sys.executable, "-c", AS_A_WEB_PROCESS, str(hits), timestamp],
        cwd=ROOT,
        env=stack.env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def publish(stack: Stack, count: int) -> list[str]:
    """`count` sweeps for the stack's workers, sent as its web process sends tasks
    (queues declared first); returns their task ids."""
    ids = [str(uuid.uuid4()) for _ in range(count)]
    with stack.broker() as broker:
        for queue in celery_app.amqp.queues.values():
            queue(broker.default_channel).declare()
        for task_id in ids:
            celery_app.send_task("ingest.sweep_outbox", task_id=task_id, connection=broker)
    return ids


def watch(port: int, key: str) -> ClientConnection:
    return connect(
        f"ws://127.0.0.1:{port}/ws/analytics/",
        additional_headers={"Authorization": f"Bearer {key}"},
        open_timeout=10,
    )


def types_received(ws: ClientConnection, seconds: float) -> list[str]:
    found, end = [], time.monotonic() + seconds
    while (left := end - time.monotonic()) > 0:
        try:
            found.append(orjson.loads(ws.recv(timeout=left))["type"])
        except TimeoutError:
            break
    return found


@pytest.fixture(params=list(SETUPS.values()), ids=list(SETUPS))
def deployments(request, tmp_path):
    """Production and staging: one private redis-server, each with its REDIS_URL db and
    REDIS_KEY_PREFIX. Production pushes its feed every 0.5 s, staging once a minute."""
    production = Stack(tmp_path / "production")
    staging = Stack(tmp_path / "staging")
    for stack, (db, prefix), seconds in zip(
        (production, staging), request.param, ("0.5", "60"), strict=True
    ):
        stack.redis_url = f"redis://127.0.0.1:{production.redis_port}/{db}"
        stack.overrides.update(
            ANALYTICS_BROADCAST_SECONDS=seconds,
            LIVE_DASHBOARD_SECONDS=seconds,
            MONITORING_HEARTBEAT_SECONDS="1",
        )
        if prefix:
            stack.overrides["REDIS_KEY_PREFIX"] = prefix
    try:
        production.start_redis()
        yield production, staging
    finally:
        staging.close()
        production.close()


def test_two_deployments_on_one_redis_server_never_see_each_others_data(deployments, read_key):
    production, staging = deployments
    assert production.namespace != staging.namespace
    ports = {production: production.start_live(), staging: staging.start_live()}
    production.start_worker()

    # Each deployment's broadcaster holds a lock of its own: both publish.
    for stack in (production, staging):
        lock = stack.redis_key("live", "broadcaster")
        token = wait_until(lambda s=stack, k=lock: client(s).get(k), timeout=30, what=lock)
        assert f":{stack.procs['live'].pid}:" in token.decode()

    # Live pushes: staging's client gets its own feed (one push of each kind in a minute),
    # never production's twice-a-second pushes, which production's client does get.
    with watch(ports[production], read_key) as prod_ws, watch(ports[staging], read_key) as st_ws:
        channels = [name.decode() for name in client(production).pubsub_channels()]
        staging_got = types_received(st_ws, 4)
        production_got = types_received(prod_ws, 1)
    assert sorted(staging_got) == [ADVANCED, DASHBOARD]
    assert production_got.count(ADVANCED) >= 3, production_got
    # Pub/sub ignores db numbers: the channels' names are what keeps the feeds apart.
    for stack in (production, staging):
        assert any(name.startswith(f"{stack.namespace}:live:") for name in channels), channels
    assert all(name.startswith((production.namespace, staging.namespace)) for name in channels)

    # Queues: production's worker runs production's tasks, and leaves staging's alone.
    # Staging's go first: a worker reading a queue they shared would take them first.
    staging_tasks = publish(staging, 3)
    production_tasks = publish(production, 3)
    for task_id in production_tasks:
        production.wait(
            "worker",
            lambda t=task_id: production.logged("worker", f"[{t}] succeeded"),
            timeout=30,
            what=f"task {task_id}",
        )
    assert not any(production.logged("worker", task_id) for task_id in staging_tasks)
    assert client(staging).llen(staging.redis_key("celery", "ingest")) == 3

    # Rate limits, smart-filter state, heartbeats and remote control, as each web
    # process sees them: production's limit is spent, staging's is untouched; the same
    # device is a first contact for each; only production has a live worker.
    seen = {"production": as_a_web_process(production, hits=2)}
    seen["staging"] = as_a_web_process(staging, hits=1)
    assert seen["production"]["waits"][0] == 0 and seen["production"]["waits"][1] >= 1
    assert seen["staging"]["waits"] == [0]
    assert seen["production"]["smart_filter"] == seen["staging"]["smart_filter"] == ["first"]
    assert seen["production"]["workers"] == 1 and seen["staging"]["workers"] == 0
    assert len(seen["production"]["ping"]) == 1 and seen["staging"]["ping"] == []

    # Every key either deployment wrote is in its own namespace.
    for stack in (production, staging):
        keys = [key.decode() for key in client(stack).scan_iter(count=1000)]
        assert keys
        namespaces = {s.namespace for s in (production, staging) if s.redis_url == stack.redis_url}
        strays = [key for key in keys if not key.startswith(tuple(f"{n}:" for n in namespaces))]
        assert strays == []
