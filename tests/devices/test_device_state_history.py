"""Device state changes: ingest and GET /api/v1/metrics/device-state-history/{device_id}."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from rest_framework.test import APIClient

from apps.devices.models import DeviceStateHistory
from tests.helpers import drain_outbox, iso, new_id, post_json

INGEST_URL = "/api/v1/analytics/device-state-change"
NOW = datetime(2025, 12, 1, 12, 0, tzinfo=UTC)

pytestmark = pytest.mark.django_db


def url(device_id: str = "device-123") -> str:
    return f"/api/v1/metrics/device-state-history/{device_id}"


def change(new_state: str, at: datetime, previous: str = "", device_id: str = "device-123", **kw):
    return {
        "device_id": device_id,
        "previous_state": previous,
        "new_state": new_state,
        "timestamp": iso(at),
        **kw,
    }


def ship(client, body, accepted: int) -> None:
    response = post_json(client, INGEST_URL, body)
    assert response.status_code == 202, response.content
    assert response.json()["accepted"] == accepted
    drain_outbox()


def test_seed_example_is_stored(ingest_client):
    event_id = new_id()
    ship(
        ingest_client,
        {
            "event_id": event_id,
            "device_id": "device-123",
            "previous_state": "online",
            "new_state": "offline",
            "changed_by": "system",
            "reason": "Network timeout",
            "extra_data": {"last_seen": "2025-12-01T10:00:00Z"},
        },
        accepted=1,
    )
    row = DeviceStateHistory.objects.get()
    assert str(row.event_id) == event_id
    assert row.device_id == "device-123"
    assert row.previous_state == "online"
    assert row.new_state == "offline"
    assert row.changed_by == "system"
    assert row.reason == "Network timeout"
    assert row.extra_data == {"last_seen": "2025-12-01T10:00:00Z"}


def test_missing_new_state_is_rejected_naming_the_field(ingest_client):
    response = post_json(ingest_client, INGEST_URL, {"device_id": "device-123"})
    assert response.status_code == 400
    rejected = response.json()["rejected"]
    assert rejected[0]["index"] == 0
    assert "new_state" in rejected[0]["errors"]


@pytest.fixture
def frozen():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


@pytest.fixture
def history(frozen, ingest_client):
    """device-123: online since 30 h ago, offline 20 h ago, online 5 h ago, maintenance 1 h ago."""
    h = timedelta(hours=1)
    items = [
        # Sent out of order on purpose.
        change("online", NOW - 5 * h, "offline", changed_by="system", reason="reconnected"),
        change("offline", NOW - 20 * h, "online", changed_by="system", reason="Network timeout"),
        change("maintenance", NOW - 1 * h, "online", changed_by="user@example.com"),
        change("online", NOW - 30 * h, "", changed_by="provisioning"),
        change("online", NOW - 40 * h, "new"),  # an older change, superseded at -30 h
        # Another device, inside the window: must not appear.
        change("offline", NOW - 2 * h, "online", device_id="device-999"),
    ]
    ship(ingest_client, items, accepted=len(items))


def test_timeline_is_in_time_order_and_only_inside_the_window(history, read_client):
    response = read_client.get(url(), {"hours": 24})
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["device_id"] == "device-123"
    assert body["period_hours"] == 24
    assert body["total_changes"] == 3
    assert [(c["timestamp"], c["new_state"]) for c in body["timeline"]] == [
        ("2025-11-30T16:00:00Z", "offline"),
        ("2025-12-01T07:00:00Z", "online"),
        ("2025-12-01T11:00:00Z", "maintenance"),
    ]
    first = body["timeline"][0]
    assert first["previous_state"] == "online"
    assert first["changed_by"] == "system"
    assert first["reason"] == "Network timeout"


def test_state_at_start_comes_from_the_last_change_before_the_window(history, read_client):
    body = read_client.get(url(), {"hours": 24}).json()
    assert body["state_at_start"] == "online"
    assert body["current_state"] == "maintenance"


def test_time_in_state_covers_the_whole_window(history, read_client):
    body = read_client.get(url(), {"hours": 24}).json()
    # online 12:00 -> 16:00 (4 h) + 07:00 -> 11:00 (4 h); offline 15 h; maintenance 1 h.
    assert body["time_in_state_seconds"] == {
        "online": 8 * 3600,
        "offline": 15 * 3600,
        "maintenance": 1 * 3600,
    }
    assert sum(body["time_in_state_seconds"].values()) == 24 * 3600


def test_without_a_change_before_the_window_time_counts_from_the_first_change(history, read_client):
    body = read_client.get(url(), {"hours": 720}).json()
    assert body["state_at_start"] is None
    assert body["total_changes"] == 5
    assert body["timeline"][0]["timestamp"] == "2025-11-29T20:00:00Z"  # the -40 h change
    seconds = body["time_in_state_seconds"]
    # online -40 h -> -20 h (20 h) and -5 h -> -1 h (4 h); offline 15 h; maintenance 1 h.
    assert seconds == {"online": 24 * 3600, "offline": 15 * 3600, "maintenance": 3600}
    assert sum(seconds.values()) == 40 * 3600


def test_short_window_with_no_changes_reports_the_state_it_opened_in(history, read_client):
    body = read_client.get(url(), {"hours": 1}).json()
    assert body["total_changes"] == 1  # the change exactly at the window start (-1 h)
    assert body["state_at_start"] == "online"

    frozen_later = NOW + timedelta(minutes=30)
    with time_machine.travel(frozen_later, tick=False):
        body = read_client.get(url(), {"hours": 1}).json()
    assert body["total_changes"] == 0
    assert body["timeline"] == []
    assert body["state_at_start"] == "maintenance"
    assert body["current_state"] == "maintenance"
    assert body["time_in_state_seconds"] == {"maintenance": 3600}


def test_other_devices_are_excluded(history, read_client):
    body = read_client.get(url("device-999"), {"hours": 24}).json()
    assert body["total_changes"] == 1
    assert body["timeline"][0]["new_state"] == "offline"
    assert body["state_at_start"] is None
    assert body["current_state"] == "offline"
    assert body["time_in_state_seconds"] == {"offline": 2 * 3600}


def test_unknown_device_has_an_empty_history(read_client):
    body = read_client.get(url("no-such-device")).json()
    assert body["total_changes"] == 0
    assert body["timeline"] == []
    assert body["current_state"] is None
    assert body["state_at_start"] is None
    assert body["time_in_state_seconds"] == {}


def test_time_in_state_sums_to_the_window_in_real_time(ingest_client, read_client):
    now = datetime.now(UTC)
    ship(
        ingest_client,
        [
            change("online", now - timedelta(hours=3)),
            change("offline", now - timedelta(minutes=90), "online"),
            change("online", now - timedelta(minutes=10), "offline"),
        ],
        accepted=3,
    )
    body = read_client.get(url(), {"hours": 2}).json()
    seconds = body["time_in_state_seconds"]
    assert sum(seconds.values()) == pytest.approx(2 * 3600, abs=1)
    assert seconds["offline"] == pytest.approx(80 * 60, abs=1)
    assert seconds["online"] == pytest.approx(40 * 60, abs=1)
    assert body["state_at_start"] == "online"
    assert body["current_state"] == "online"


def test_hours_720_is_accepted(read_client):
    response = read_client.get(url(), {"hours": 720})
    assert response.status_code == 200
    assert response.json()["period_hours"] == 720


@pytest.mark.parametrize("hours", ["0", "721", "abc"])
def test_hours_out_of_bounds_is_a_400_naming_hours(read_client, hours):
    response = read_client.get(url(), {"hours": hours})
    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "invalid"
    assert "hours" in body["fields"]


def test_device_history_needs_read_access(ingest_client, outsider, staff_client):
    assert APIClient().get(url()).status_code == 401
    assert ingest_client.get(url()).status_code == 403
    session = APIClient()
    session.force_login(outsider)
    assert session.get(url()).status_code == 403
    assert staff_client.get(url()).status_code == 200


def test_current_state_is_the_newest_change_even_when_the_timeline_is_truncated(read_client):
    from apps.devices.selectors import TIMELINE_LIMIT

    now = datetime.now(UTC)
    total = TIMELINE_LIMIT + 1
    rows = []
    for i in range(total):
        at = now - timedelta(hours=10) + timedelta(seconds=5 * i)
        state = "retired" if i == total - 1 else ("online" if i % 2 == 0 else "offline")
        rows.append(
            DeviceStateHistory(device_id="flappy", new_state=state, timestamp=at, received_at=at)
        )
    DeviceStateHistory.objects.bulk_create(rows)

    body = read_client.get(url("flappy"), {"hours": 24}).json()
    assert body["truncated"] is True
    assert body["total_changes"] == total  # totals cover every change
    assert len(body["timeline"]) == TIMELINE_LIMIT  # the newest ones
    assert body["timeline"][-1]["new_state"] == "retired"
    assert body["current_state"] == "retired"
