"""Tracking a period of users, agents and the platform from what clients sent, against
hand-counted answers; once per period; the reads of what was tracked."""

import json
from datetime import UTC, datetime
from io import StringIO

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.insights.models import EventMeaning, PlatformMetrics, UserAnalytics
from apps.insights.periods import period_end
from apps.insights.services import period_for, period_track
from apps.monitoring.models import Downtime, MonitoredService
from tests.helpers import drain_outbox, post_json

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
API = "/api/v1/analytics"
DAY = "2026-11-18"


@pytest.fixture(autouse=True)
def frozen():
    with time_machine.travel(NOW, tick=False):
        yield


def at(hour: int, day: str = DAY) -> str:
    return f"{day}T{hour:02d}:00:00Z"


def ship(client, path: str, items: list[dict]) -> None:
    response = post_json(client, f"{API}/{path}", items)
    assert response.status_code == 202 and not response.json()["rejected"], response.content
    drain_outbox()


def event(event_type: str, hour: int, user: str = "", day: str = DAY, session: str = "", **meta):
    return {"event_type": event_type, "user_id": user, "session_id": session,
            "timestamp": at(hour, day), "metadata": meta}  # fmt: skip


@pytest.fixture
def recorded(ingest_client):
    ship(
        ingest_client,
        "events",
        [
            event("contract_created", 10, "ann", session="s1"),
            event("contract_completed", 11, "ann", session="s1", amount=100, platform_fee=15,
                  agent_id="a1"),
            event("credits_purchased", 9, "ann", session="s2", amount=500),
            event("credits_spent", 12, "ann", amount=40),
            event("orchestration_run", 13, "ann"),
            event("agent_called", 14, "ann", agent_id="a1", success=True, response_time_ms=100),
            event("agent_called", 15, "ann", agent_id="a2", success=False, response_time_ms=300),
            event("contract_created", 10, "bob"),
            event("contract_cancelled", 11, "bob"),
            event("credits_spent", 12, "bob", amount="abc"),  # not a number: not summed
            event("bid_placed", 8, agent_id="a1", amount=80),
            event("bid_placed", 9, agent_id="a1", amount=120),
            event("contract_won", 9, agent_id="a1"),
            event("validation_scored", 16, agent_id="a1", score=4),
            event("validation_scored", 17, agent_id="a1", score=5),
            event("reputation_scored", 18, agent_id="a2", score=3.5),
            event("contract_failed", 19, agent_id="a2"),
            event("fraud_alert", 20),
            event("security_event", 21),
            event("security_event", 22),
            # The day before: ann was already there, dee only then (churned), one contract.
            event("contract_created", 10, "ann", day="2026-11-17"),
            event("login", 10, "dee", day="2026-11-17"),
        ],
    )  # fmt: skip
    ship(
        ingest_client,
        "user-activity",
        [
            {"user_id": "ann", "activity_type": "page_view", "session_id": "s1",
             "duration_ms": 30_000, "timestamp": at(10)},
            {"user_id": "ann", "activity_type": "click", "session_id": "s3",
             "duration_ms": 5_000, "timestamp": at(11)},
            {"user_id": "carl", "activity_type": "page_view", "session_id": "s9",
             "duration_ms": 10_000, "timestamp": at(12)},
        ],
    )  # fmt: skip
    ship(
        ingest_client,
        "requests",
        [
            {"endpoint": "/x", "method": "GET", "status_code": status, "response_time_ms": ms,
             "timestamp": at(hour)}
            for hour, status, ms in ((1, 200, 100), (2, 200, 200), (3, 404, 300), (4, 500, 400))
        ],
    )  # fmt: skip
    service = MonitoredService.objects.create(name="a1", check_type="tcp", target="127.0.0.1:9")
    MonitoredService.objects.filter(pk=service.pk).update(
        created_at=datetime(2026, 11, 1, tzinfo=UTC)
    )
    Downtime.objects.create(service=service, started_at=datetime(2026, 11, 18, 6, tzinfo=UTC),
                            ended_at=datetime(2026, 11, 18, 12, tzinfo=UTC))  # fmt: skip


def track(client, **body):
    return post_json(client, f"{API}/batch-track", {"period_type": "day", **body})


def test_a_day_is_tracked_for_every_user_agent_and_the_platform(recorded, admin_api_client):
    response = track(admin_api_client, period_start=at(15))

    assert response.status_code == 200, response.content
    assert response.json() == {
        "period_type": "day",
        "period_start": "2026-11-18T00:00:00Z",
        "period_end": "2026-11-19T00:00:00Z",
        "users_tracked": 3,  # ann, bob, carl
        "agents_tracked": 2,
        "platform_tracked": True,
        "skipped_existing": 0,
    }


def test_what_a_user_did_in_the_day(recorded, admin_api_client, read_client):
    track(admin_api_client, period_start=at(0))

    ann = read_client.get(f"{API}/user/ann?period_type=day").json()
    assert ann == {
        "user_id": "ann", "period_type": "day",
        "period_start": "2026-11-18T00:00:00Z", "period_end": "2026-11-19T00:00:00Z",
        "sessions": 3,  # s1 (events and a view), s2, s3
        "page_views": 1, "actions": 8,  # a click and seven events
        "active_time_seconds": 35.0,
        "contracts_created": 1, "contracts_completed": 1, "contracts_cancelled": 0,
        "credits_purchased": 500.0, "credits_spent": 40.0, "total_spent": 100.0,
        "agents_used": 2, "orchestrations_run": 1,
    }  # fmt: skip
    bob = read_client.get(f"{API}/user/bob").json()  # day is the default
    assert (bob["actions"], bob["contracts_cancelled"], bob["credits_spent"]) == (3, 1, 0.0)
    carl = read_client.get(f"{API}/user/carl").json()
    assert (carl["sessions"], carl["page_views"], carl["actions"]) == (1, 1, 0)
    assert read_client.get(f"{API}/user/dee").status_code == 404  # nothing on the 18th
    assert read_client.get(f"{API}/user/ann?period_type=hour").status_code == 404
    assert read_client.get(f"{API}/user/ann?period_type=year").status_code == 400


def test_what_an_agent_did_in_the_day(recorded, admin_api_client, read_client):
    track(admin_api_client, period_start=at(0))

    a1 = read_client.get(f"{API}/agent/a1").json()
    assert {k: a1[k] for k in a1 if k not in ("period_start", "period_end")} == {
        "agent_id": "a1", "period_type": "day",
        "total_calls": 1, "successful_calls": 1, "failed_calls": 0, "success_rate": 100.0,
        "p50_response_time_ms": 100.0, "p95_response_time_ms": 100.0,
        "p99_response_time_ms": 100.0,
        "uptime_percentage": 75.0,  # down 06:00-12:00
        "bids_placed": 2, "contracts_won": 1, "contracts_completed": 1, "contracts_failed": 0,
        "revenue": 100.0, "avg_bid_price": 100.0,
        "validation_score": 4.5, "reputation_score": None,
    }  # fmt: skip
    a2 = read_client.get(f"{API}/agent/a2/trends").json()
    assert len(a2) == 1
    assert (a2[0]["success_rate"], a2[0]["failed_calls"], a2[0]["contracts_failed"]) == (0.0, 1, 1)
    assert (a2[0]["uptime_percentage"], a2[0]["reputation_score"]) == (None, 3.5)


def test_the_platform_in_the_day(recorded, admin_api_client, read_client):
    track(admin_api_client, period_start=at(0))

    [day] = read_client.get(f"{API}/platform/trends?period_type=day").json()
    assert {k: day[k] for k in day if k not in ("period_start", "period_end")} == {
        "period_type": "day",
        "total_users": 4, "active_users": 3, "new_users": 2, "churned_users": 1,
        "total_agents": 2, "active_agents": 2, "new_agents": 2,
        "total_contracts": 3, "active_contracts": 0,
        "completed_contracts": 1, "failed_contracts": 1,
        "revenue": 100.0, "platform_fees": 15.0,
        "credits_purchased": 500.0, "credits_spent": 40.0,
        "avg_response_time_ms": 250.0, "error_rate": 0.5, "throughput_per_minute": 0.003,
        "api_calls": 4, "orchestrations": 1, "fraud_alerts": 1, "security_events": 2,
    }  # fmt: skip


def test_a_period_is_tracked_once_unless_forced(recorded, admin_api_client, ingest_client):
    track(admin_api_client, period_start=at(0))
    ship(ingest_client, "events", [event("contract_created", 20, "ann")])

    again = track(admin_api_client, period_start=at(0)).json()
    assert (again["users_tracked"], again["agents_tracked"]) == (0, 0)
    assert (again["platform_tracked"], again["skipped_existing"]) == (False, 6)
    assert UserAnalytics.objects.filter(user_id="ann").count() == 1
    assert UserAnalytics.objects.get(user_id="ann").contracts_created == 1  # as first tracked

    forced = track(admin_api_client, period_start=at(0), force=True).json()
    assert (forced["users_tracked"], forced["skipped_existing"]) == (3, 0)
    assert UserAnalytics.objects.get(user_id="ann").contracts_created == 2


def test_event_meanings_are_configuration(recorded, admin_api_client, read_client, settings):
    settings.INSIGHTS_EVENT_TYPES = {
        **settings.INSIGHTS_EVENT_TYPES,
        "orchestration_run": ["orchestration_run", "login"],
    }
    EventMeaning.objects.create(meaning="credits_spent", event_types=["contract_completed"])
    track(admin_api_client, period_start=at(0))

    ann = read_client.get(f"{API}/user/ann").json()
    assert ann["credits_spent"] == 100.0  # the admin's meaning: completed contracts' amounts
    assert ann["orchestrations_run"] == 1


def test_tracking_costs_the_same_queries_for_3_users_or_60(ingest_client, admin_key):
    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            period_track(period=period_for("day", datetime(2026, 11, 18, tzinfo=UTC)), force=True)
        return len(captured)

    ship(ingest_client, "events", [event("contract_created", 10, f"u{i}") for i in range(3)])
    few = queries()
    ship(ingest_client, "events", [event("contract_created", 10, f"v{i}") for i in range(60)])
    assert queries() == few


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"period_type": "year"}, "period_type"),
        ({"period_type": "day", "period_start": "2026-11-20T01:00:00Z"}, "period_start"),
        ({"period_type": "week", "period_start": "2026-11-18T00:00:00Z"}, "period_start"),
        ({"period_type": "day", "period_start": "yesterday"}, "period_start"),
        ({"period_type": "day", "force": "sometimes"}, "force"),
        ({"period_type": "day", "extra": 1}, "extra"),
        ({}, "period_type"),
    ],
)
def test_bad_requests_are_400_naming_the_field(admin_api_client, body, field):
    response = post_json(admin_api_client, f"{API}/batch-track", body)
    assert response.status_code == 400
    assert field in response.json()["fields"], response.json()


def test_only_an_admin_key_tracks(read_client, ingest_client):
    assert track(read_client).status_code == 403
    assert track(ingest_client).status_code == 403


def test_periods_are_utc_iso_weeks_and_calendar_months():
    assert period_for("week", now=NOW).period_type == "week"
    week = period_for("week", datetime(2026, 11, 15, 23, 59, tzinfo=UTC), now=NOW)
    assert (week.start, week.end) == (
        datetime(2026, 11, 9, tzinfo=UTC),  # a Monday
        datetime(2026, 11, 16, tzinfo=UTC),
    )
    last_week = period_for("week", now=NOW)
    assert last_week.start == datetime(2026, 11, 9, tzinfo=UTC)
    month = period_for("month", now=NOW)
    assert (month.start, month.end) == (
        datetime(2026, 10, 1, tzinfo=UTC),
        datetime(2026, 11, 1, tzinfo=UTC),
    )
    assert period_end("month", datetime(2026, 12, 1, tzinfo=UTC)) == datetime(
        2027, 1, 1, tzinfo=UTC
    )
    hour = period_for("hour", now=NOW)
    assert (hour.start, hour.end) == (datetime(2026, 11, 20, 11, tzinfo=UTC), NOW)


def test_beat_tracks_each_period_type_once_it_is_over(recorded, settings):
    from django.core.management import call_command
    from django_celery_beat.models import PeriodicTask

    from apps.insights.tasks import track_period

    call_command("setup_schedules", stdout=StringIO())
    beat = {
        json.loads(task.kwargs)["period_type"]: task.crontab.minute
        for task in PeriodicTask.objects.filter(task="insights.track_period")
    }
    assert beat == {"hour": "5", "day": "15", "week": "30", "month": "45"}

    track_period.apply(kwargs={"period_type": "day"})  # at NOW: the 19th, nothing sent then
    track_period.apply(kwargs={"period_type": "week"})  # 9-16 November: nothing either
    platform = {(p.period_type, p.period_start.day) for p in PlatformMetrics.objects.all()}
    assert platform == {("day", 19), ("week", 9)}
    assert PlatformMetrics.objects.get(period_type="day").total_users == 4  # seen before


def test_the_dashboard(recorded, admin_api_client, read_client):
    track(admin_api_client, period_start=at(0))
    track(admin_api_client, period_start=at(0, "2026-11-10"))  # outside the window

    response = read_client.get(f"{API}/dashboard?days=3")  # since the 17th, 12:00

    assert response.status_code == 200
    body = response.json()
    assert body["current_metrics"] == {
        "users": {"total": 4, "active": 3, "new": 2},  # ann came on the 17th, at 10:00
        "agents": {"total": 2, "active": 2, "new": 2},
        "contracts": {"total": 3, "active": 0, "completed": 1},
        "financial": {"revenue": 100.0, "platform_fees": 15.0},
    }
    assert [row["period_start"] for row in body["trends"]] == ["2026-11-18T00:00:00Z"]
    assert body["trends"][0]["active_users"] == 3
    performance = body["performance"]
    assert (performance["total_requests"], performance["error_rate"]) == (4, 0.5)
    assert body["monitoring"]["health"]["total_services"] == 1
    assert body["monitoring"]["open_incidents"] == 0
    assert body["days"] == 3
    assert read_client.get(f"{API}/dashboard?days=366").status_code == 400
    assert read_client.get(f"{API}/dashboard").json()["days"] == 30


def run(user: str, when: str) -> dict:
    return {"event_type": "orchestration_run", "user_id": user, "timestamp": when}


def test_week_and_month_edges_split_events_where_utc_does(ingest_client, admin_api_client):
    ship(
        ingest_client,
        "events",
        [
            run("w", "2026-11-15T23:59:59Z"),
            run("w", "2026-11-16T00:00:00Z"),
            run("m", "2026-10-31T23:59:59Z"),
            run("m", "2026-11-01T00:00:00Z"),
            # Sunday the 15th at 23:30 in New York is Monday 04:30 UTC: the new week.
            run("w", "2026-11-15T23:30:00-05:00"),
        ],
    )  # fmt: skip
    week = track(admin_api_client, period_type="week", period_start="2026-11-15T12:00:00Z")
    assert week.json()["period_start"] == "2026-11-09T00:00:00Z"
    month = track(admin_api_client, period_type="month", period_start="2026-10-15T00:00:00Z")
    assert month.json()["period_end"] == "2026-11-01T00:00:00Z"

    runs = {
        (row.user_id, row.period_type): row.orchestrations_run
        for row in UserAnalytics.objects.all()
    }
    # w's Monday runs and m's November one belong to the periods after these.
    assert runs == {("w", "week"): 1, ("m", "month"): 1}


@pytest.mark.parametrize(
    "moment",
    [
        "9999-12-15T00:00:00Z",  # its end would be year 10000
        "0001-01-03T00:00:00Z",  # its week would begin before year 1
        "2026-08-01T00:00:00Z",  # before the 90 days kept
        "2026-11-21T09:00:00+14:00",  # 19:00 UTC today, said in another zone: not over
    ],
)
def test_periods_out_of_reach_are_400_naming_period_start(admin_api_client, moment):
    for period_type in ("hour", "day", "week", "month"):
        response = track(admin_api_client, period_type=period_type, period_start=moment)
        assert response.status_code == 400, (period_type, response.content)
        assert list(response.json()["fields"]) == ["period_start"]
