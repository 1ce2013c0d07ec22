"""Product usage from what clients send: the most active users, the most started
scenarios and the overview's usage block, against hand-counted answers."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from tests.helpers import drain_outbox, iso, post_json

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
API = "/api/v1/analytics"


@pytest.fixture(autouse=True)
def frozen():
    with time_machine.travel(NOW, tick=False):
        yield


def at(**delta) -> str:
    return iso(NOW - timedelta(**delta))


def answered(**delta) -> str:
    """A time as the API answers it (UTC, `Z`)."""
    return (NOW - timedelta(**delta)).strftime("%Y-%m-%dT%H:%M:%SZ")


def ship(client, path: str, items: list[dict]) -> None:
    response = post_json(client, f"{API}/{path}", items)
    assert response.status_code == 202 and not response.json()["rejected"], response.content
    drain_outbox()


def event(event_type: str, user: str, when: str, **metadata) -> dict:
    return {"event_type": event_type, "user_id": user, "timestamp": when, "metadata": metadata}


def started(user: str, scenario: str, name: str | None, when: str) -> dict:
    meta = {"scenario_id": scenario} | ({"scenario_name": name} if name else {})
    return event("scenario_started", user, when, **meta)


def completed(user: str, scenario: str, when: str) -> dict:
    return event("scenario_completed", user, when, scenario_id=scenario)


@pytest.fixture
def recorded(ingest_client):
    """ann: 3 events + 2 page views + 1 AI request = 6, last 1 h ago.
    bob: 4 events, last 10 min ago. cy: 4 AI requests, last 3 days ago. dee: 1 view, 40 days ago.
    """
    ship(
        ingest_client,
        "events",
        [
            event("login", "ann", at(hours=5), email="ann@old.example"),
            event("quiz_completed", "ann", at(hours=2), email="ann@example.com"),
            started("ann", "restaurant_001", "Restaurant", at(hours=1)),
            started("bob", "restaurant_001", "Restaurant Reservation", at(minutes=30)),
            completed("bob", "restaurant_001", at(minutes=20)),
            started("bob", "hotel_001", "Hotel Check-in", at(minutes=15)),
            event("grammar_check", "bob", at(minutes=10)),
            started("", "hotel_001", None, at(days=2)),  # anonymous: a start, no user
            started("", "airport_001", None, at(days=50)),
        ],
    )
    ship(
        ingest_client,
        "user-activity",
        [
            {"user_id": "ann", "activity_type": "page_view", "timestamp": at(hours=3)},
            {"user_id": "ann", "activity_type": "click", "timestamp": at(hours=4)},
            {"user_id": "dee", "activity_type": "page_view", "timestamp": at(days=40),
             "extra_data": {"email": "dee@example.com"}},
        ],
    )  # fmt: skip
    ship(
        ingest_client,
        "log-ai-usage",
        [
            {"feature": "chat", "user_id": "ann", "conversation_id": "c1",
             "timestamp": at(hours=6)},
            *({"feature": "quiz", "user_id": "cy", "conversation_id": f"c{i}",
               "timestamp": at(days=3)} for i in (2, 3, 3, 4)),
            {"feature": "chat", "conversation_id": "c5", "timestamp": at(hours=1)},
        ],
    )  # fmt: skip


def test_top_users_add_up_every_kind_busiest_first(recorded, read_client):
    response = read_client.get(f"{API}/top-users")

    assert response.status_code == 200
    assert response.json() == [
        {"user_id": "ann", "email": "ann@example.com", "activity_count": 6,
         "last_active": answered(hours=1)},
        {"user_id": "bob", "email": None, "activity_count": 4,
         "last_active": answered(minutes=10)},
        {"user_id": "cy", "email": None, "activity_count": 4,
         "last_active": answered(days=3)},
        {"user_id": "dee", "email": "dee@example.com", "activity_count": 1,
         "last_active": answered(days=40)},
    ]  # fmt: skip
    # bob and cy tie on 4: the more recent first. A window leaves out the older ones.
    users = read_client.get(f"{API}/top-users?limit=2&days=2").json()
    assert [(u["user_id"], u["activity_count"]) for u in users] == [("ann", 6), ("bob", 4)]


def test_popular_scenarios_count_starts_and_completions(recorded, read_client):
    response = read_client.get(f"{API}/popular-scenarios?limit=5")

    assert response.status_code == 200
    # Two starts each: the one more often completed first. The name: the latest one given.
    assert response.json() == [
        {"scenario_id": "restaurant_001", "name": "Restaurant Reservation", "start_count": 2,
         "completion_count": 1, "completion_rate": 50.0},
        {"scenario_id": "hotel_001", "name": "Hotel Check-in", "start_count": 2,
         "completion_count": 0, "completion_rate": 0.0},
        {"scenario_id": "airport_001", "name": "airport_001", "start_count": 1,
         "completion_count": 0, "completion_rate": 0.0},
    ]  # fmt: skip
    recent = read_client.get(f"{API}/popular-scenarios?days=1").json()
    assert [(s["scenario_id"], s["start_count"]) for s in recent] == [
        ("restaurant_001", 2),
        ("hotel_001", 1),
    ]


def test_the_event_types_are_configuration(recorded, read_client, settings):
    settings.USAGE_SCENARIO_STARTED_EVENTS = ["scenario_started", "scenario_resumed"]
    settings.USAGE_QUIZ_EVENTS = ["quiz_completed", "login"]
    settings.USAGE_GRAMMAR_CHECK_EVENTS = ["spelling_fixed"]

    usage = read_client.get(f"{API}/metrics").json()["usage"]

    assert usage["total_quizzes_taken"] == 2
    assert usage["total_grammar_checks"] == 0


def test_the_overview_usage_block(recorded, read_client):
    assert read_client.get(f"{API}/metrics").json()["usage"] == {
        "total_users": 4,  # ann, bob, cy, dee; anonymous records are nobody
        "active_users_24h": 2,  # ann, bob
        "total_scenarios": 3,
        "active_conversations": 2,  # c1 (6 h ago), c5 (1 h ago); cy's are 3 days old
        "total_quizzes_taken": 1,
        "total_grammar_checks": 1,
    }


def test_completions_beyond_the_starts_in_a_window_stay_at_100(ingest_client, read_client):
    ship(
        ingest_client,
        "events",
        [
            started("u1", "s1", "One", at(days=3)),
            started("u2", "s1", "One", at(hours=3)),
            completed("u1", "s1", at(hours=2)),
            completed("u2", "s1", at(hours=1)),
        ],
    )
    rows = read_client.get(f"{API}/popular-scenarios?days=1").json()
    assert rows == [
        {"scenario_id": "s1", "name": "One", "start_count": 1, "completion_count": 2,
         "completion_rate": 100.0}
    ]  # fmt: skip


@pytest.mark.parametrize(
    "query",
    ["top-users?limit=0", "top-users?limit=101", "top-users?limit=", "top-users?days=366",
     "top-users?limit=x", "popular-scenarios?limit=51", "popular-scenarios?days=0"],
)  # fmt: skip
def test_bounds_are_400_naming_the_parameter(read_client, query):
    response = read_client.get(f"{API}/{query}")
    assert response.status_code == 400
    name = query.split("?")[1].split("=")[0]
    assert list(response.json()["fields"]) == [name]


def test_empty_answers_and_who_may_read(read_client, ingest_client, staff_client):
    assert read_client.get(f"{API}/top-users").json() == []
    assert read_client.get(f"{API}/popular-scenarios").json() == []
    assert staff_client.get(f"{API}/top-users?limit=100").status_code == 200
    assert ingest_client.get(f"{API}/top-users").status_code == 403
