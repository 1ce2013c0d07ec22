"""POST /api/v1/analytics/device-metrics and the Smart Data Filter.

Real Redis and PostgreSQL. Every test gets its own key prefix, and only keys
under it are deleted afterwards; the shared Redis is never flushed.
"""

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest
import redis
from django.db import OperationalError

from apps.core.redis import get_redis
from apps.devices import selectors as devices_selectors
from apps.devices import smartfilter
from apps.devices.models import DeviceMetric
from apps.ingest.models import OutboxBatch
from bench.stack import service_env
from tests.helpers import drain_outbox, iso, new_id, post_json
from tests.live import ROOT, current_database_url, free_port

URL = "/api/v1/analytics/device-metrics"
# Recent enough for retention, far enough back that +10 min stays in the past.
T0 = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def filter_settings(settings):
    prefix = smartfilter.key_prefix()  # in the test's own Redis namespace (tests/conftest.py)
    settings.SMART_FILTER_THRESHOLD_PERCENT = 5.0
    settings.SMART_FILTER_SNAPSHOT_SECONDS = 300
    yield prefix
    client = get_redis()
    keys = list(client.scan_iter(match=f"{prefix}:*", count=1000))
    if keys:
        client.delete(*keys)


def point(metrics: dict, seconds: float = 0, device_id: str = "dev-1", **extra) -> dict:
    return {
        "device_id": device_id,
        "metrics": metrics,
        "timestamp": iso(T0 + timedelta(seconds=seconds)),
        **extra,
    }


def send(client, body) -> dict:
    response = post_json(client, URL, body)
    assert response.status_code == 202, response.content
    return response.json()


def reasons(client, *points) -> list[str]:
    """Post the points one request each, in order; the filter's reason for each."""
    return [send(client, p)["results"][0]["reason"] for p in points]


def stored_rows(device_id: str = "dev-1") -> list[DeviceMetric]:
    drain_outbox()
    return list(DeviceMetric.objects.filter(device_id=device_id).order_by("timestamp", "id"))


# --- the three rules --------------------------------------------------------


def test_first_point_of_a_device_is_stored(ingest_client):
    event_id = new_id()
    body = send(ingest_client, point({"temp": 21.5, "online": True}, event_id=event_id))
    assert body == {
        "accepted": 1,
        "duplicates": 0,
        "rejected": [],
        "stored": 1,
        "filtered": 0,
        "results": [{"index": 0, "stored": True, "reason": "first"}],
    }
    [row] = stored_rows()
    assert str(row.event_id) == event_id
    assert row.metrics == {"temp": 21.5, "online": True}
    assert row.stored_reason == "first"
    assert row.timestamp == T0


def test_point_within_threshold_is_filtered_and_not_written(ingest_client):
    assert reasons(ingest_client, point({"temp": 100}), point({"temp": 104}, 10)) == [
        "first",
        "filtered",
    ]
    assert OutboxBatch.objects.count() == 1  # the filtered point never reached the outbox
    assert [r.metrics for r in stored_rows()] == [{"temp": 100}]


def test_change_above_threshold_is_stored(ingest_client):
    got = reasons(
        ingest_client,
        point({"temp": 100, "load": 0.5}),
        point({"temp": 106, "load": 0.5}, 10),  # +6 %
        point({"temp": 106, "load": 0.47}, 20),  # -6 % on another metric
    )
    assert got == ["first", "changed", "changed"]
    rows = stored_rows()
    assert [r.stored_reason for r in rows] == ["first", "changed", "changed"]
    assert rows[2].metrics == {"temp": 106, "load": 0.47}


def test_change_is_measured_from_the_last_stored_value_not_the_last_seen(ingest_client):
    got = reasons(
        ingest_client,
        point({"temp": 100}),
        point({"temp": 104}, 10),  # 4 % from 100: filtered
        point({"temp": 108}, 20),  # 3.8 % from 104, but 8 % from the stored 100
    )
    assert got == ["first", "filtered", "changed"]


def test_exactly_the_threshold_is_not_a_change(ingest_client):
    got = reasons(
        ingest_client,
        point({"temp": 100}),
        point({"temp": 105}, 10),
        point({"temp": 95}, 20),
        point({"temp": 105.01}, 30),
    )
    assert got == ["first", "filtered", "filtered", "changed"]


def test_equal_values_are_stored_as_a_snapshot_after_the_interval(ingest_client):
    got = reasons(
        ingest_client,
        point({"temp": 100}),
        point({"temp": 100}, 299),
        point({"temp": 100}, 300),  # 300 s after the last stored point
        point({"temp": 101}, 310),
        point({"temp": 100}, 599),
        point({"temp": 100}, 600),
    )
    assert got == ["first", "filtered", "snapshot", "filtered", "filtered", "snapshot"]
    assert [r.stored_reason for r in stored_rows()] == ["first", "snapshot", "snapshot"]


def test_a_metric_seen_for_the_first_time_is_a_change(ingest_client):
    got = reasons(
        ingest_client,
        point({"temp": 100}),
        point({"temp": 100, "fan": 1200}, 10),
        point({"temp": 100, "fan": 1200}, 20),
    )
    assert got == ["first", "changed", "filtered"]


def test_non_numeric_values_change_when_they_differ(ingest_client):
    got = reasons(
        ingest_client,
        point({"mode": "eco", "door": False}),
        point({"mode": "eco", "door": False}, 10),
        point({"mode": "boost", "door": False}, 20),
        point({"mode": "boost", "door": True}, 30),
        point({"mode": "boost", "door": 1}, 40),  # a number where a bool was: changed type
    )
    assert got == ["first", "filtered", "changed", "changed", "changed"]


def test_zero_baseline_and_int_float_equality(ingest_client):
    got = reasons(
        ingest_client,
        point({"errors": 0, "temp": 20}),
        point({"errors": 0.0, "temp": 20.0}, 10),  # same numbers, other JSON spelling
        point({"errors": 0.001, "temp": 20}, 20),  # any move away from 0 counts
        point({"errors": 0.001, "temp": 20}, 30),
    )
    assert got == ["first", "filtered", "changed", "filtered"]


def test_state_keeps_metrics_a_point_does_not_carry(ingest_client):
    got = reasons(
        ingest_client,
        point({"temp": 100, "fan": 1000}),
        point({"temp": 110}, 10),  # stored; fan stays 1000 in the state
        point({"fan": 1010}, 20),  # 1 % from the remembered 1000
        point({"temp": 111, "fan": 1000}, 30),
    )
    assert got == ["first", "changed", "filtered", "filtered"]


def test_a_late_point_is_judged_but_does_not_roll_the_state_back(ingest_client):
    got = reasons(
        ingest_client,
        point({"temp": 100}, 100),
        point({"temp": 200}, 50),  # older, and different: stored
        point({"temp": 101}, 110),  # still compared with the newest stored (100)
        point({"temp": 100}, 400),  # snapshot counted from 100 s, not from 50 s
    )
    assert got == ["first", "changed", "filtered", "snapshot"]


def test_points_of_one_request_are_judged_in_order_per_device(ingest_client):
    body = send(
        ingest_client,
        {
            "batch": [
                point({"temp": 100}, 0, "a"),
                point({"temp": 50}, 0, "b"),
                point({"temp": 101}, 1, "a"),
                point({"temp": 60}, 1, "b"),
                point({"temp": 110}, 2, "a"),
                point({"temp": 61}, 2, "b"),
            ]
        },
    )
    assert [r["reason"] for r in body["results"]] == [
        "first",
        "first",
        "filtered",
        "changed",
        "changed",
        "filtered",
    ]
    assert (body["stored"], body["filtered"], body["accepted"]) == (4, 2, 6)
    assert len(stored_rows("a")) == 2
    assert len(stored_rows("b")) == 2


# --- settings ---------------------------------------------------------------


def test_threshold_comes_from_settings(ingest_client, settings):
    settings.SMART_FILTER_THRESHOLD_PERCENT = 20.0
    got = reasons(
        ingest_client,
        point({"temp": 100}),
        point({"temp": 115}, 10),
        point({"temp": 121}, 20),
    )
    assert got == ["first", "filtered", "changed"]


def test_snapshot_interval_comes_from_settings(ingest_client, settings):
    settings.SMART_FILTER_SNAPSHOT_SECONDS = 60
    got = reasons(
        ingest_client,
        point({"temp": 100}),
        point({"temp": 100}, 59),
        point({"temp": 100}, 60),
    )
    assert got == ["first", "filtered", "snapshot"]
    ttl = get_redis().ttl(smartfilter.state_key("dev-1"))
    assert 0 < ttl <= 3 * 60


def test_a_snapshot_stores_the_full_set_of_last_known_metrics(ingest_client):
    got = reasons(
        ingest_client,
        point({"temp": 100, "fan": 1000, "mode": "eco", "door": False}),
        point({"fan": 1500}, 10),  # changed: the row holds what was sent
        point({"temp": 100}, 400),  # snapshot: the row holds everything known
    )
    assert got == ["first", "changed", "snapshot"]
    rows = stored_rows()
    assert rows[1].metrics == {"fan": 1500}
    assert rows[2].metrics == {"temp": 100, "fan": 1500, "mode": "eco", "door": False}


def test_the_first_point_after_the_service_restarts_is_stored_as_first_contact(ingest_client):
    smartfilter.epoch_start()
    assert reasons(ingest_client, point({"temp": 100}), point({"temp": 100}, 10)) == [
        "first",
        "filtered",
    ]

    smartfilter.epoch_start()  # what the web server's master does when it starts

    got = reasons(ingest_client, point({"temp": 100}, 20), point({"temp": 100}, 30))
    assert got == ["first", "filtered"]
    assert [r.stored_reason for r in stored_rows()] == ["first", "first"]


def test_a_state_rebuilt_from_the_database_is_not_a_restart(ingest_client):
    smartfilter.epoch_start()
    assert reasons(ingest_client, point({"temp": 100})) == ["first"]
    drain_outbox()
    get_redis().delete(smartfilter.state_key("dev-1"))  # evicted, expired

    assert reasons(ingest_client, point({"temp": 100}, 10)) == ["filtered"]


@pytest.mark.parametrize("huge", [1.7e308, 1e18 + 1e3, -1.7e308])
def test_values_beyond_the_documented_range_are_per_item_errors(ingest_client, huge):
    body = send(ingest_client, [point({"temp": huge}), point({"temp": 1e18}, 1)])

    assert body["accepted"] == 1
    assert body["rejected"][0]["errors"].keys() == {"metrics.temp"}
    assert body["results"] == [{"index": 1, "stored": True, "reason": "first"}]


def test_a_move_across_the_whole_range_is_a_change(ingest_client):
    got = reasons(ingest_client, point({"v": 1e18}), point({"v": -1e18}, 10))
    assert got == ["first", "changed"]


def test_a_metric_named_like_a_credential_keeps_its_name_not_its_value(ingest_client):
    send(ingest_client, point({"api_key": "sk_live_abcdefghijklmnop", "temp": 1}))

    assert stored_rows()[0].metrics == {"api_key": "[redacted]", "temp": 1}


# --- shared state: rebuild, failures ---------------------------------------


def test_missing_state_is_rebuilt_from_the_latest_stored_row(ingest_client):
    assert reasons(ingest_client, point({"temp": 100, "fan": 900}), point({"temp": 120}, 60)) == [
        "first",
        "changed",
    ]
    drain_outbox()  # both rows are in the table now
    assert get_redis().delete(smartfilter.state_key("dev-1")) == 1

    got = reasons(
        ingest_client,
        point({"temp": 122}, 70),  # 1.7 % from the latest row (120): filtered
        point({"temp": 122}, 359),  # 299 s after that row
        point({"temp": 122}, 360),  # 300 s after it: snapshot
    )
    assert got == ["filtered", "filtered", "snapshot"]


def test_rebuild_without_a_stored_row_is_first_contact(ingest_client):
    assert reasons(ingest_client, point({"temp": 100})) == ["first"]
    OutboxBatch.objects.all().delete()  # as if it had never been written
    get_redis().delete(smartfilter.state_key("dev-1"))
    assert reasons(ingest_client, point({"temp": 100}, 10)) == ["first"]


def test_redis_down_stores_every_point(ingest_client, monkeypatch):
    dead = redis.Redis(port=free_port(), socket_connect_timeout=0.2, socket_timeout=0.2)
    monkeypatch.setattr(smartfilter, "get_redis", lambda: dead)
    smartfilter._script.cache_clear()
    try:
        body = send(ingest_client, [point({"temp": 100}), point({"temp": 100}, 1)])
    finally:
        smartfilter._script.cache_clear()
    assert body["stored"] == 2
    assert {r["reason"] for r in body["results"]} == {"filter_unavailable"}
    assert [r.stored_reason for r in stored_rows()] == ["filter_unavailable"] * 2
    monkeypatch.setattr(devices_selectors, "get_redis", lambda: dead)
    assert devices_selectors.smart_filter_counts() == {}
    assert devices_selectors.smart_filter_reason_counts() == {}


def test_database_down_during_rebuild_stores_unjudged(ingest_client, monkeypatch):
    def refuse(device_ids):
        raise OperationalError("connection to server lost")

    monkeypatch.setattr(smartfilter, "_latest_stored", refuse)
    body = send(ingest_client, [point({"temp": 100}), point({"temp": 100}, 1)])
    assert [r["reason"] for r in body["results"]] == ["filter_unavailable"] * 2
    assert not get_redis().exists(smartfilter.state_key("dev-1"))  # nothing half-built


def test_failed_outbox_write_drops_the_device_state(ingest_client, monkeypatch):
    assert reasons(ingest_client, point({"temp": 100})) == ["first"]
    drain_outbox()
    key = smartfilter.state_key("dev-1")

    def refuse(**kwargs):
        raise OperationalError("connection to server lost")

    monkeypatch.setattr("apps.ingest.pipeline.outbox_write", refuse)
    response = post_json(ingest_client, URL, point({"temp": 150}, 10))
    assert response.status_code == 503
    assert not get_redis().exists(key)  # the state claimed a point that was never written
    monkeypatch.undo()
    # Rebuilt from the table (temp 100), so the unwritten 150 is stored when resent.
    assert reasons(ingest_client, point({"temp": 150}, 10)) == ["changed"]


def test_state_stops_growing_when_a_device_invents_metric_names(monkeypatch):
    monkeypatch.setattr(smartfilter, "MAX_STATE_METRICS", 5)
    rows = [
        {"device_id": "dev-1", "timestamp": iso(T0 + timedelta(seconds=i)), "metrics": m}
        for i, m in enumerate([{"a": 1, "b": 1, "c": 1}, {"d": 1, "e": 1}, {"f": 1}, {"f": 1}])
    ]
    assert smartfilter.decide(rows) == ["first", "changed", "changed", "filtered"]
    state = get_redis().hgetall(smartfilter.state_key("dev-1"))
    assert sorted(state) == [b"m:f", b"ts"]  # restarted from the point that overflowed


# --- counters, response, validation ----------------------------------------


def test_decisions_are_counted_in_redis(ingest_client, filter_settings):
    assert devices_selectors.smart_filter_counts() == {"stored": 0, "filtered": 0}
    send(ingest_client, [point({"t": 1}), point({"t": 1}, 1), point({"t": 2}, 2)])
    send(ingest_client, point({"t": 2}, 3))
    assert devices_selectors.smart_filter_counts() == {"stored": 2, "filtered": 2}
    assert devices_selectors.smart_filter_reason_counts() == {
        "first": 1,
        "changed": 1,
        "snapshot": 0,
        "filtered": 2,
        "filter_unavailable": 0,
    }
    assert int(get_redis().get(f"{filter_settings}:stored")) == 2


def test_invalid_items_are_rejected_by_index(ingest_client):
    body = send(
        ingest_client,
        {
            "batch": [
                point({"temp": 100}),
                point({"temp": None}, 1),
                point({"temp": 100}, 2),
                point({"note": "x" * 201}, 3),
                {"metrics": {"temp": 1}},
                point({str(i): i for i in range(101)}, 5),
                point({"temp": 200}, 6),
            ]
        },
    )
    assert body["accepted"] == 3
    assert [r["index"] for r in body["rejected"]] == [1, 3, 4, 5]
    assert "metrics.temp" in body["rejected"][0]["errors"]
    assert "metrics.note" in body["rejected"][1]["errors"]
    assert "device_id" in body["rejected"][2]["errors"]
    assert "metrics" in body["rejected"][3]["errors"]
    assert body["results"] == [
        {"index": 0, "stored": True, "reason": "first"},
        {"index": 2, "stored": False, "reason": "filtered"},
        {"index": 6, "stored": True, "reason": "changed"},
    ]
    assert (body["stored"], body["filtered"]) == (2, 1)


def test_all_invalid_is_a_400(ingest_client):
    response = post_json(ingest_client, URL, [{"device_id": "", "metrics": {}}, {"x": 1}])
    assert response.status_code == 400
    body = response.json()
    assert body["accepted"] == 0
    assert [r["index"] for r in body["rejected"]] == [0, 1]
    assert not OutboxBatch.objects.exists()


def test_timestamp_defaults_to_server_time(ingest_client):
    before = datetime.now(UTC)
    send(ingest_client, {"device_id": "dev-1", "metrics": {"temp": 1}})
    [row] = stored_rows()
    assert before <= row.timestamp <= datetime.now(UTC)


def test_read_key_cannot_post(read_client):
    assert post_json(read_client, URL, point({"temp": 1})).status_code == 403


def test_mixed_batch_applies_the_filter_so_it_cannot_be_bypassed(ingest_client):
    items = [
        {"kind": "device_metric", **point({"temp": 1})},
        {"kind": "error", "category": "api", "error_message": "x"},
        {"kind": "device-metrics", **point({"temp": 1}, 1)},
    ]
    response = post_json(ingest_client, "/api/v1/analytics/batch", items)

    body = response.json()
    assert response.status_code == 202
    assert (body["accepted"], body["stored"], body["filtered"]) == (3, 1, 1)
    assert body["results"] == [
        {"index": 0, "stored": True, "reason": "first"},
        {"index": 2, "stored": False, "reason": "filtered"},
    ]
    drain_outbox()
    assert [r.stored_reason for r in stored_rows()] == ["first"]


def test_admin_lists_points_read_only(django_user_model, ingest_client):
    send(ingest_client, point({"temp": 1}))
    drain_outbox()
    admin = django_user_model.objects.create_superuser(username="root", password="pw-root-1")
    from django.test import Client

    client = Client()
    client.force_login(admin)
    assert client.get("/admin/devices/devicemetric/").status_code == 200
    assert client.get("/admin/devices/devicemetric/add/").status_code == 403


# --- across OS processes ----------------------------------------------------

# Judges rounds of points with smartfilter.decide in its own interpreter; with
# `barrier`, every process finishes round k before any starts round k + 1.
WORKER = r"""
import json, os, sys, time
import django
django.setup()
from django.conf import settings
settings.REDIS_NAMESPACE = os.environ["SF_NAMESPACE"]
from apps.core.redis import get_redis
from apps.devices import smartfilter
job = json.load(sys.stdin)
client = get_redis()
out = []
for number, rows in enumerate(job["rounds"]):
    if job.get("barrier"):
        key = f"{smartfilter.key_prefix()}:barrier:{number}"
        client.incr(key)
        deadline = time.monotonic() + 30
        while int(client.get(key)) < job["barrier"]:
            if time.monotonic() > deadline:
                sys.exit("barrier timeout")
            time.sleep(0.0005)
    out.append(smartfilter.decide(rows))
print(json.dumps(out))
"""


def worker_env(prefix: str) -> dict[str, str]:
    from django.conf import settings

    env = service_env(current_database_url(), settings.REDIS_URL, throttle_ingest="100000/min")
    env.update(
        SMART_FILTER_THRESHOLD_PERCENT="5",
        SMART_FILTER_SNAPSHOT_SECONDS="300",
        SF_NAMESPACE=settings.REDIS_NAMESPACE,
    )
    return env


def start_worker(prefix: str, rounds: list[list[dict]], barrier: int = 0) -> subprocess.Popen:
    proc = subprocess.Popen(
        [sys.executable, "-c", WORKER],
        cwd=ROOT,
        env=worker_env(prefix),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    proc.stdin.write(json.dumps({"rounds": rounds, "barrier": barrier}))
    proc.stdin.close()
    return proc


def finish(proc: subprocess.Popen, timeout: float = 90) -> list[list[str]]:
    try:
        stdout = proc.stdout.read() if proc.wait(timeout=timeout) == 0 else ""
        stderr = proc.stderr.read()
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise
    finally:
        proc.stdout.close()
        proc.stderr.close()
    assert proc.returncode == 0, stderr[-3000:]
    return json.loads(stdout.strip().splitlines()[-1])


def run_worker(prefix: str, rounds: list[list[dict]]) -> list[list[str]]:
    return finish(start_worker(prefix, rounds))


def raw(metrics: dict, seconds: float = 0, device_id: str = "dev-x") -> dict:
    return {
        "device_id": device_id,
        "timestamp": iso(T0 + timedelta(seconds=seconds)),
        "metrics": metrics,
    }


@pytest.mark.django_db(transaction=True)
@pytest.mark.timeout(240)
def test_processes_share_the_last_stored_state(filter_settings):
    prefix = filter_settings
    assert run_worker(prefix, [[raw({"temp": 100})]]) == [["first"]]  # process A
    assert run_worker(prefix, [[raw({"temp": 103}, 10)], [raw({"temp": 110}, 20)]]) == [
        ["filtered"],  # process B filters against A's point
        ["changed"],
    ]
    # A third process sees B's stored 110 (not A's 100), and so does this one.
    assert run_worker(prefix, [[raw({"temp": 111}, 30)]]) == [["filtered"]]
    assert smartfilter.decide([raw({"temp": 100}, 40)]) == ["changed"]


@pytest.mark.django_db(transaction=True)
@pytest.mark.timeout(240)
def test_racing_processes_never_decide_from_the_same_state(filter_settings):
    """Two processes send the same point in lock-step rounds, for 40 fresh devices.

    Round 0 finds no state in Redis nor in the database for any device, so both
    processes rebuild at once: exactly one may call it "first". In each later
    round the value moves 20 % from the stored one: exactly one may store it
    ("changed"); the other must see that and filter. Decisions taken from the
    same old state would show up as two stored points in a round.
    """
    prefix = filter_settings
    devices = [f"race-{n}" for n in range(40)]
    rounds = [
        [raw({"temp": 100 if k % 2 == 0 else 120}, k, device) for device in devices]
        for k in range(25)
    ]
    procs = [start_worker(prefix, rounds, barrier=2) for _ in range(2)]
    results = [finish(proc) for proc in procs]

    for k in range(len(rounds)):
        for d, device in enumerate(devices):
            pair = sorted(results[p][k][d] for p in range(2))
            expected = ["filtered", "first"] if k == 0 else ["changed", "filtered"]
            assert pair == expected, (k, device, pair)
    # The state each process left behind is the last round's value.
    state = get_redis().hget(smartfilter.state_key(devices[0]), "m:temp")
    assert state == (b"n:100" if (len(rounds) - 1) % 2 == 0 else b"n:120")
