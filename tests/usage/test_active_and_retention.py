"""Active users (DAU, WAU, MAU and their series) and weekly retention cohorts, across
events, user activity and AI usage, against hand-counted answers."""

from datetime import UTC, datetime

import pytest
import time_machine

from tests.helpers import drain_outbox, post_json

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)  # a Friday; its week began Monday the 16th
API = "/api/v1/analytics"


@pytest.fixture(autouse=True)
def frozen():
    with time_machine.travel(NOW, tick=False):
        yield


def ship(client, path: str, items: list[dict]) -> None:
    response = post_json(client, f"{API}/{path}", items)
    assert response.status_code == 202 and not response.json()["rejected"], response.content
    drain_outbox()


def seen(client, user: str, day: str, how: str = "events") -> None:
    when = f"{day}T10:00:00Z"
    item = {
        "events": {"event_type": "login", "user_id": user, "timestamp": when},
        "user-activity": {"activity_type": "click", "user_id": user, "timestamp": when},
        "log-ai-usage": {"feature": "chat", "user_id": user, "timestamp": when},
    }[how]
    ship(client, how, [item])


def test_daily_weekly_and_monthly_active_users(ingest_client, read_client):
    for day in ("2026-11-20", "2026-11-18", "2026-10-25"):
        seen(ingest_client, "ann", day)
    seen(ingest_client, "bob", "2026-11-19", "user-activity")
    seen(ingest_client, "cy", "2026-11-14", "log-ai-usage")
    seen(ingest_client, "dee", "2026-10-15")  # 36 days ago: in no window
    seen(ingest_client, "", "2026-11-20")  # anonymous: nobody

    response = read_client.get(f"{API}/users/active?days=3")

    assert response.status_code == 200
    assert response.json() == {
        "dau": 1, "wau": 3, "mau": 3,
        "series": [
            {"date": "2026-11-18", "dau": 1, "wau": 2, "mau": 2},
            {"date": "2026-11-19", "dau": 1, "wau": 3, "mau": 3},
            {"date": "2026-11-20", "dau": 1, "wau": 3, "mau": 3},
        ],
    }  # fmt: skip
    assert len(read_client.get(f"{API}/users/active").json()["series"]) == 30


def test_weekly_retention_cohorts(ingest_client, read_client):
    seen(ingest_client, "ann", "2026-10-25")  # first seen before the weeks asked: no cohort
    seen(ingest_client, "ann", "2026-11-17")
    for day in ("2026-11-03", "2026-11-10", "2026-11-17"):
        seen(ingest_client, "u1", day)
    seen(ingest_client, "u2", "2026-11-04", "user-activity")
    seen(ingest_client, "u3", "2026-11-11")
    seen(ingest_client, "u3", "2026-11-19", "log-ai-usage")
    seen(ingest_client, "u4", "2026-11-16")

    response = read_client.get(f"{API}/users/retention?weeks=3")

    assert response.status_code == 200
    assert response.json() == {
        "weeks": 3,
        "cohorts": [
            {"cohort_start": "2026-11-02", "size": 2, "retained": [2, 1, 1],
             "retention": [1.0, 0.5, 0.5]},
            {"cohort_start": "2026-11-09", "size": 1, "retained": [1, 1],
             "retention": [1.0, 1.0]},
            {"cohort_start": "2026-11-16", "size": 1, "retained": [1], "retention": [1.0]},
        ],
    }  # fmt: skip


def test_empty_and_bounds(read_client):
    empty = read_client.get(f"{API}/users/retention?weeks=2").json()
    assert [c["size"] for c in empty["cohorts"]] == [0, 0]
    assert read_client.get(f"{API}/users/active?days=1").json()["series"] == [
        {"date": "2026-11-20", "dau": 0, "wau": 0, "mau": 0}
    ]
    for query in ("users/active?days=0", "users/active?days=366", "users/retention?weeks=53"):
        response = read_client.get(f"{API}/{query}")
        assert response.status_code == 400
        assert list(response.json()["fields"]) == [query.split("?")[1].split("=")[0]]
