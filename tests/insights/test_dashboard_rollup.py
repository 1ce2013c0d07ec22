"""The dashboard read from the rollup and the raw rows of its window's edges answers what
the raw rows alone answer (dashboard_from_rows, the read before the rollup), whatever the
chunks' layout, where the window starts and what arrived after the last chunk."""

from datetime import UTC, datetime, timedelta
from io import StringIO

import pytest
import time_machine
from django.core.management import call_command

from apps.ingest.models import OutboxBatch
from apps.insights import selectors, services
from apps.insights.models import RequestRollup, RollupChunk, SeenKey, SeenKind
from apps.insights.serializers import DashboardOut
from apps.insights.services import dashboard_rollup
from apps.insights.tasks import track_period
from tests.helpers import drain_outbox, post_json

from .test_tracking import API, NOW, at, event, frozen, recorded, ship  # noqa: F401 - fixtures

pytestmark = pytest.mark.django_db


def answer(read) -> dict:
    """The API's JSON of one read, health's clock aside."""
    body = dict(DashboardOut(read).data)
    body["monitoring"]["health"].pop("checked_at", None)
    return body


def assert_same(rolled: dict, raw: dict) -> None:
    money = ("revenue", "platform_fees")
    for key in money:  # sums added in another order: equal to the float's last bits
        assert rolled["current_metrics"]["financial"][key] == pytest.approx(
            raw["current_metrics"]["financial"].pop(key), rel=1e-12
        )
        rolled["current_metrics"]["financial"].pop(key)
    assert rolled == raw


def late(ingest_client) -> None:
    """After a rollup made at 09:00 on the 20th: a known user and agent again, a new user
    and a new agent, a contract opened and two requests, at 10:00 (its tail)."""
    ship(
        ingest_client,
        "events",
        [
            event("contract_created", 10, "bob", day="2026-11-20"),
            event("agent_called", 10, "erin", day="2026-11-20", agent_id="a1",
                  response_time_ms=50),
            event("bid_placed", 10, day="2026-11-20", agent_id="a9", amount=10),
        ],
    )  # fmt: skip
    ship(
        ingest_client,
        "requests",
        [
            {"endpoint": "/y", "method": "GET", "status_code": 200, "response_time_ms": 70,
             "timestamp": at(10, "2026-11-20")},
            {"endpoint": "/x", "method": "GET", "status_code": 503, "response_time_ms": 900,
             "timestamp": at(10, "2026-11-20")},
        ],
    )  # fmt: skip


# When the rollups ran: one at noon (day chunks, then [20th 00:00, 12:00)); one at 09:00
# (the 20th's 09:00-12:00 a raw tail); one on the 18th at 11:30 then one at 10:00 on the
# 20th (an hour-aligned chunk from 18th 11:00 holding the window's start for days=2).
LAYOUTS = {
    "noon": [NOW],
    "tail": [NOW - timedelta(hours=3)],
    "uneven": [datetime(2026, 11, 18, 11, 30, tzinfo=UTC), NOW - timedelta(hours=2)],
}


@pytest.mark.parametrize("layout", list(LAYOUTS))
@pytest.mark.parametrize("days", [1, 2, 3, 30, 365])
@pytest.mark.usefixtures("recorded")
def test_the_rollup_answers_what_the_rows_do(ingest_client, layout, days):
    for moment in LAYOUTS[layout]:
        dashboard_rollup(now=moment)
    late(ingest_client)  # after the rollups: in the tail, or unseen by a noon rollup
    if layout == "noon":
        RollupChunk.objects.all().delete()
        dashboard_rollup(now=NOW)

    rolled, raw = selectors.dashboard(days=days), selectors.dashboard_from_rows(days=days)

    assert_same(answer(rolled), answer(raw))


@pytest.mark.usefixtures("recorded")
def test_the_window_start_splits_a_chunk_by_the_rows():
    """days=2 starts on the 18th at 12:00, inside the chunk of the 18th: bob (first seen
    at 10:00 that day, again at 12:00) is active but not new, carl (one page view at 12:00
    sharp) is new; ann (last seen at 15:00) is active, dee (the 17th only) is not."""
    dashboard_rollup(now=NOW)
    assert RollupChunk.objects.filter(start=at(0), end=at(0, "2026-11-19")).exists()

    users = answer(selectors.dashboard(days=2))["current_metrics"]["users"]

    assert users == {"total": 4, "active": 3, "new": 1}
    assert users == answer(selectors.dashboard_from_rows(days=2))["current_metrics"]["users"]


def test_nothing_sent_nothing_rolled_up():
    dashboard_rollup(now=NOW)
    assert RollupChunk.objects.exists() and not SeenKey.objects.exists()

    rolled = answer(selectors.dashboard(days=30))

    assert rolled == answer(selectors.dashboard_from_rows(days=30))
    assert rolled["current_metrics"]["users"] == {"total": 0, "active": 0, "new": 0}
    assert rolled["performance"]["total_requests"] == 0
    assert rolled["performance"]["p95_response_time_ms"] is None


@pytest.mark.usefixtures("recorded")
def test_big_windows_read_percentiles_from_the_sketch_within_1_percent(ingest_client, monkeypatch):
    dashboard_rollup(now=NOW - timedelta(hours=3))
    late(ingest_client)
    monkeypatch.setattr(selectors, "EXACT_REQUEST_LOGS", 0)  # every window "big"

    rolled = answer(selectors.dashboard(days=30))["performance"]
    raw = answer(selectors.dashboard_from_rows(days=30))["performance"]

    for key in ("p50_response_time_ms", "p95_response_time_ms", "p99_response_time_ms"):
        assert rolled[key] == pytest.approx(raw.pop(key), rel=0.01)
        rolled.pop(key)
    for row in (*rolled["slowest_endpoints"], *raw["slowest_endpoints"]):
        row["p95_response_time_ms"] = pytest.approx(row["p95_response_time_ms"], rel=0.01)
    assert rolled == raw  # counts, rates, the average and the endpoints' order exactly
    assert rolled["total_requests"] == 6


@pytest.mark.usefixtures("recorded")
def test_the_api_answers_from_the_rollup_in_the_same_shape(read_client):
    before = read_client.get(f"{API}/dashboard?days=3").json()
    dashboard_rollup(now=NOW)
    assert RequestRollup.objects.get().requests == 4

    after = read_client.get(f"{API}/dashboard?days=3").json()

    for body in (before, after):
        body["monitoring"]["health"].pop("checked_at")
    assert after == before
    assert after["current_metrics"]["users"] == {"total": 4, "active": 3, "new": 2}


@pytest.mark.usefixtures("recorded")
def test_a_stale_rollup_is_not_read(monkeypatch):
    """Chunks ending before the window (beat stopped for days): the rows alone answer."""
    dashboard_rollup(now=datetime(2026, 11, 18, 11, 30, tzinfo=UTC))
    monkeypatch.setattr(selectors, "_seen_counts", None)  # would fail if used

    assert answer(selectors.dashboard(days=1)) == answer(selectors.dashboard_from_rows(days=1))


@pytest.mark.usefixtures("recorded")
def test_each_hour_rolls_up_what_is_not_yet():
    track_period.apply(kwargs={"period_type": "hour"})
    made = RollupChunk.objects.count()
    with time_machine.travel(NOW + timedelta(hours=2), tick=False):
        track_period.apply(kwargs={"period_type": "hour"})

    assert RollupChunk.objects.order_by("-end").first().end == NOW + timedelta(hours=2)
    assert RollupChunk.objects.count() == made + 1  # the two hours since, one chunk
    assert set(SeenKey.objects.values_list("kind", "key")) == {
        ("user", "ann"), ("user", "bob"), ("user", "carl"), ("user", "dee"),
        ("agent", "a1"), ("agent", "a2"),
    }  # fmt: skip


@pytest.mark.usefixtures("recorded")
def test_items_for_hours_already_rolled_up_count_after_a_rebuild(ingest_client):
    dashboard_rollup(now=NOW)
    ship(ingest_client, "events", [event("login", 9, "zed", day="2026-11-19")])  # late
    assert answer(selectors.dashboard(days=3))["current_metrics"]["users"]["total"] == 4

    out = StringIO()
    call_command("rollup_dashboard", "--rebuild", stdout=out)

    assert out.getvalue().strip().endswith("chunk(s) rolled up")
    rolled = answer(selectors.dashboard(days=3))
    assert rolled["current_metrics"]["users"]["total"] == 5
    assert_same(rolled, answer(selectors.dashboard_from_rows(days=3)))


@pytest.mark.usefixtures("recorded")
def test_an_agent_id_longer_than_a_key_is_rolled_up_too(ingest_client):
    long = "agent-" + "x" * 400
    ship(ingest_client, "events", [event("bid_placed", 9, day="2026-11-19", agent_id=long)])
    dashboard_rollup(now=NOW - timedelta(hours=3))
    ship(ingest_client, "events", [event("bid_placed", 10, day="2026-11-20", agent_id=long)])

    rolled = answer(selectors.dashboard(days=30))["current_metrics"]["agents"]

    assert rolled == {"total": 3, "active": 3, "new": 3}
    assert rolled == answer(selectors.dashboard_from_rows(days=30))["current_metrics"]["agents"]


# --- Items arriving late, for hours already rolled up ---------------------------------
LATER = NOW + timedelta(hours=1)


def when(hour: int, day: str = "2026-11-18") -> datetime:
    return datetime.fromisoformat(at(hour, day))


def roll_up_first() -> None:
    """The first rollup, ten minutes after the rows were received (beyond its overlap)."""
    with time_machine.travel(NOW + timedelta(minutes=10), tick=False):
        dashboard_rollup(now=NOW)


def first_last(kind: str, key: str) -> tuple[datetime, datetime]:
    seen = SeenKey.objects.get(kind=kind, key=key)
    return seen.first_from, seen.last_from


def late_items(ingest_client) -> None:
    """One of each kind the rollup reads, each with a time inside a chunk already rolled
    up: a completed contract by a new user, a known user's event before she was first
    seen, a request log, AI usage by a new user, a page view by another new user."""
    ship(
        ingest_client,
        "events",
        [
            event("contract_completed", 9, "zed", day="2026-11-19", amount=70,
                  platform_fee=7, agent_id="a7"),
            event("login", 8, "ann", day="2026-11-16"),
        ],
    )  # fmt: skip
    ship(
        ingest_client,
        "requests",
        [{"endpoint": "/late", "method": "POST", "status_code": 502, "response_time_ms": 1500,
          "timestamp": at(16)}],
    )  # fmt: skip
    ship(
        ingest_client,
        "log-ai-usage",
        [{"feature": "chat", "model": "tiny", "user_id": "yan", "timestamp": at(6, "2026-11-19")}],
    )
    ship(
        ingest_client,
        "user-activity",
        [{"user_id": "xia", "activity_type": "page_view", "timestamp": at(7, "2026-11-20")}],
    )


def dashboards(days: tuple[int, ...] = (1, 2, 3, 5, 30)) -> dict[int, tuple[dict, dict]]:
    return {
        n: (answer(selectors.dashboard(days=n)), answer(selectors.dashboard_from_rows(days=n)))
        for n in days
    }


@pytest.mark.usefixtures("recorded")
def test_items_arriving_late_count_after_the_next_hourly_run(ingest_client):
    roll_up_first()
    with time_machine.travel(LATER, tick=False):
        late_items(ingest_client)
        before = dashboards()
        assert before[30][0]["current_metrics"]["users"]["total"] == 4  # not counted yet
        assert before[30][1]["current_metrics"]["users"]["total"] == 7

        made = dashboard_rollup(now=LATER)

        # the new hour, and again the chunks of the 16th, 18th, 19th and 20th only
        assert made == 5
        again = RollupChunk.objects.filter(rolled_at=LATER).values_list("start", flat=True)
        assert sorted(again) == [
            when(0, d) for d in ("2026-11-16", "2026-11-18", "2026-11-19", "2026-11-20")
        ] + [NOW]
        for rolled, raw in dashboards().values():
            assert_same(rolled, raw)
        after = answer(selectors.dashboard(days=30))
    assert after["current_metrics"]["users"] == {"total": 7, "active": 7, "new": 7}
    assert after["current_metrics"]["contracts"]["completed"] == 2
    assert after["performance"]["total_requests"] == 5


@pytest.mark.usefixtures("recorded")
def test_first_and_last_seen_of_a_late_item(ingest_client):
    """A new user first seen late gets that old chunk as first; a known user seen late
    before her first sighting gets it as first, and keeps her last (not moved back)."""
    roll_up_first()
    ann = first_last(SeenKind.USER, "ann")
    assert ann == (when(0, "2026-11-17"), when(0, "2026-11-18"))
    with time_machine.travel(LATER, tick=False):
        late_items(ingest_client)
        dashboard_rollup(now=LATER)

    assert first_last(SeenKind.USER, "ann") == (when(0, "2026-11-16"), when(0, "2026-11-18"))
    assert first_last(SeenKind.USER, "yan") == (when(0, "2026-11-19"),) * 2
    assert first_last(SeenKind.USER, "xia") == (when(0, "2026-11-20"),) * 2
    assert first_last(SeenKind.AGENT, "a7") == (when(0, "2026-11-19"),) * 2
    seen = SeenKey.objects.get(kind=SeenKind.USER, key="ann")
    assert (seen.first_until, seen.last_until) == (when(0, "2026-11-17"), when(0, "2026-11-19"))


@pytest.mark.usefixtures("recorded")
def test_an_old_chunk_rolled_again_does_not_move_a_last_sighting_back(ingest_client):
    """bob is seen in the hour after the first rollup; an item of his for the 17th
    arrives: the 17th is rolled again, bob's last stays the newest hour."""
    roll_up_first()
    with time_machine.travel(LATER, tick=False):
        ship(ingest_client, "events", [event("login", 12, "bob", day="2026-11-20")])
        dashboard_rollup(now=LATER)
    assert first_last(SeenKind.USER, "bob") == (when(0, "2026-11-18"), when(12, "2026-11-20"))
    with time_machine.travel(LATER + timedelta(hours=1), tick=False):
        ship(ingest_client, "events", [event("login", 9, "bob", day="2026-11-17")])
        dashboard_rollup(now=LATER + timedelta(hours=1))

        assert first_last(SeenKind.USER, "bob") == (when(0, "2026-11-17"), when(12, "2026-11-20"))
        for rolled, raw in dashboards().values():
            assert_same(rolled, raw)


@pytest.mark.usefixtures("recorded")
def test_items_received_during_a_run_are_read_by_the_next(ingest_client, monkeypatch):
    """An item stored while a run rolls up its last chunk (its old chunk already read),
    and one accepted before a run but still in the outbox during it: neither is in that
    run's answer, both are in the next one's."""
    roll_up_first()
    roll = services._roll_chunk

    def roll_then_receive(start, end, types, **kwargs):
        chunk = roll(start, end, types, **kwargs)
        if start == NOW:  # the run's new hour: every old chunk is read by now
            ship(ingest_client, "events", [event("login", 9, "wes", day="2026-11-19")])
        return chunk

    monkeypatch.setattr(services, "_roll_chunk", roll_then_receive)
    with time_machine.travel(LATER, tick=False):
        accepted = post_json(
            ingest_client, f"{API}/events", [event("login", 9, "vic", day="2026-11-18")]
        )
        assert accepted.status_code == 202  # waiting in the outbox
        OutboxBatch.objects.update(created_at=LATER)  # the database's clock, frozen too
    with time_machine.travel(LATER + timedelta(minutes=20), tick=False):
        dashboard_rollup(now=LATER)
        drain_outbox()  # vic's row lands after the run read the 18th
        users = answer(selectors.dashboard(days=30))["current_metrics"]["users"]
        assert users["total"] == 4  # neither wes nor vic yet
    monkeypatch.setattr(services, "_roll_chunk", roll)
    with time_machine.travel(LATER + timedelta(hours=1), tick=False):
        dashboard_rollup(now=LATER + timedelta(hours=1))

        for rolled, raw in dashboards().values():
            assert_same(rolled, raw)
        users = answer(selectors.dashboard(days=30))["current_metrics"]["users"]
    assert users["total"] == 6
    assert first_last(SeenKind.USER, "vic") == (when(0, "2026-11-18"),) * 2


@pytest.mark.usefixtures("recorded")
def test_a_parked_batch_retried_hours_later_counts_after_the_next_run(ingest_client, admin_client):
    """A batch the database refused waits for triage while hourly runs go by; staff retry
    it from the admin: the run after counts its rows (their old hours rolled again)."""
    roll_up_first()
    with time_machine.travel(LATER, tick=False):
        accepted = post_json(
            ingest_client, f"{API}/events", [event("login", 9, "pam", day="2026-11-18")]
        )
        assert accepted.status_code == 202
        OutboxBatch.objects.update(failed_at=LATER, last_error="refused")  # parked
    for hours in (1, 2):
        with time_machine.travel(LATER + timedelta(hours=hours), tick=False):
            dashboard_rollup(now=LATER + timedelta(hours=hours))
    with time_machine.travel(LATER + timedelta(hours=2, minutes=30), tick=False):
        batch = OutboxBatch.objects.get()
        retried = admin_client.post(
            "/admin/ingest/outboxbatch/", {"action": "requeue", "_selected_action": [batch.pk]}
        )
        assert retried.status_code == 302
        drain_outbox()
    with time_machine.travel(LATER + timedelta(hours=3), tick=False):
        dashboard_rollup(now=LATER + timedelta(hours=3))

        for rolled, raw in dashboards().values():
            assert_same(rolled, raw)
    assert first_last(SeenKind.USER, "pam") == (when(0, "2026-11-18"),) * 2
