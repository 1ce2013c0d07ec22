"""The console's Devices pages: the devices heard from most recently, and a device's
state timeline (its totals are the device-state-history API's time in state) and its
stored metrics over time; seeded through the ingest endpoints; empty states; 403."""

import time
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from apps.devices import selectors
from tests.browser import fetch
from tests.helpers import drain_outbox, grant, iso, post_json

LIST = "/admin/console/devices/"
HISTORY = "/api/v1/metrics/device-state-history/"
DEVICE = "pump-7"


def seed(ingest_client) -> None:
    now = timezone.now()

    def change(hours: float, new: str, previous: str = "", device: str = DEVICE, **more) -> dict:
        moment = iso(now - timedelta(hours=hours))
        return {"device_id": device, "previous_state": previous, "new_state": new,
                "timestamp": moment, **more}  # fmt: skip

    changes = [
        change(30, "idle"),
        change(5, "active", "idle", reason="start", changed_by="scheduler"),
        change(3, "error", "active", reason="overheat"),
        change(2.5, "active", "error", reason="reset"),
        change(8, "offline", device="older-device"),
    ]
    response = post_json(ingest_client, "/api/v1/analytics/device-state-change", changes)
    assert response.status_code == 202, response.content
    for i in range(6):  # every point moves > 5 %: each is stored
        point = {
            "device_id": DEVICE,
            "metrics": {"temperature_c": 20 + 10 * i, "pressure_bar": 1 + i, "firmware": "1.2"},
            "timestamp": iso(now - timedelta(minutes=40 * i + 1)),
        }
        response = post_json(ingest_client, "/api/v1/analytics/device-metrics", point)
        assert response.status_code == 202, response.content
    drain_outbox()


# --- selectors


@pytest.mark.django_db
def test_recent_devices_and_a_devices_metric_series(ingest_client):
    seed(ingest_client)

    devices = selectors.recent_devices()
    series = selectors.device_metric_series(device_id=DEVICE, hours=24)

    assert [d["device_id"] for d in devices] == [DEVICE, "older-device"]
    assert devices[0]["current_state"] == "active" and devices[0]["state_changes"] == 4
    assert devices[0]["metric_points"] == 6 and devices[1]["metric_points"] == 0
    assert series["points"] == 6
    assert [s["metric"] for s in series["series"]] == ["pressure_bar", "temperature_c"]
    temperatures = [p["value"] for p in series["series"][1]["points"]]
    assert temperatures == [70, 60, 50, 40, 30, 20]  # oldest first
    assert series["text"] == {"firmware": "1.2"}


# --- in Chromium


@pytest.mark.live
@pytest.mark.django_db(transaction=True)
@pytest.mark.timeout(120)
def test_a_devices_timeline_totals_are_the_history_apis(browser, browser_superuser, ingest_client):
    seed(ingest_client)
    page = browser.page(user=browser_superuser)
    page.goto(browser.url(LIST))
    rows = page.locator("#device-list tbody tr")
    assert [rows.nth(i).get_attribute("data-device") for i in range(rows.count())] == [
        DEVICE, "older-device",
    ]  # fmt: skip
    browser.shoot(page, "console-devices")

    opened = time.monotonic()
    page.click(f'#device-list a:text-is("{DEVICE}")')

    page.wait_for_selector("#state-totals")
    assert page.url == browser.url(f"{LIST}{DEVICE}/")
    answer = fetch(page, page.get_attribute("#history-json", "href"))
    assert answer["device_id"] == DEVICE and answer["period_hours"] == 24
    shown = page.eval_on_selector_all(
        "#state-totals tbody tr[data-state]",
        "rows => Object.fromEntries(rows.map(r => [r.dataset.state, Number(r.dataset.seconds)]))",
    )
    api = answer["time_in_state_seconds"]
    assert set(shown) == set(api) == {"idle", "active", "error"}
    # A stretch closed inside the window is the same to the millisecond; the window's
    # opening stretch and the current one move with "now", read a moment later by the API.
    assert shown["error"] == api["error"]
    drift = time.monotonic() - opened
    assert 0 <= shown["idle"] - api["idle"] <= drift
    assert 0 <= api["active"] - shown["active"] <= drift
    assert shown["error"] == pytest.approx(1800, abs=1)
    assert sum(shown.values()) == pytest.approx(24 * 3600, abs=30)
    # The band: a segment per stretch, in order, the window's opening state first.
    segments = page.eval_on_selector_all(
        ".device-band > span", "s => s.map(n => [n.dataset.state, Number(n.dataset.seconds)])"
    )
    assert [state for state, _ in segments] == ["idle", "active", "error", "active"]
    by_state: dict = {}
    for state, seconds in segments:
        by_state[state] = by_state.get(state, 0) + seconds
    assert by_state == pytest.approx(shown, abs=0.01)  # the band adds up to the totals
    assert "UTC" in page.get_attribute(".device-band > span >> nth=2", "title")
    assert "local" in page.get_attribute(".device-band > span >> nth=2", "title")
    assert "now: active" in page.text_content("#current-state")
    assert "overheat" in page.text_content("#changes")
    assert "firmware = 1.2" in page.text_content("#device-text")
    # Metrics: one chart per numeric metric, holding the console source's points.
    page.wait_for_selector("#chart-metric-temperature_c .uplot")
    metrics = fetch(page, page.get_attribute("#metrics-json", "href"))
    for series in metrics["series"]:
        drawn = page.evaluate(f"Console.charts['metric:{series['metric']}'].data")
        assert drawn[1] == [p["value"] for p in series["points"]]
        assert len(drawn[0]) == len(series["points"]) == 6
    csv = page.evaluate(
        f"fetch({page.get_attribute('#metrics-csv', 'href')!r}).then(r => r.text())"
    )
    assert len(csv.strip().splitlines()) == 1 + 12  # a row per metric per point
    history_csv = page.get_attribute("#history-csv", "href")
    assert history_csv.startswith(f"{HISTORY}{DEVICE}?") and "format=csv" in history_csv
    browser.shoot(page, "console-device")


@pytest.mark.live
@pytest.mark.django_db(transaction=True)
@pytest.mark.timeout(120)
def test_empty_device_pages_say_what_to_send(browser, browser_superuser):
    page = browser.page(user=browser_superuser)
    page.goto(browser.url(LIST))
    text = page.text_content("#devices-empty")
    for path in ("/api/v1/analytics/device-state-change", "/api/v1/analytics/device-metrics"):
        assert browser.url(path) in text, path
    assert 'curl -H "X-API-Key: $INGEST_KEY"' in text
    browser.shoot(page, "console-devices-empty")

    page.goto(browser.url(f"{LIST}sensor-1/"))

    page.wait_for_selector("#timeline .console-empty")
    assert browser.url("/api/v1/analytics/device-state-change") in page.text_content("#timeline")
    assert '"device_id": "sensor-1"' in page.text_content("#timeline")
    assert browser.url("/api/v1/analytics/device-metrics") in page.text_content(
        "#panel-device-metrics"
    )
    assert page.locator(".uplot").count() == 0
    browser.shoot(page, "console-device-empty")


# --- permissions


@pytest.mark.django_db
def test_staff_without_the_permission_get_403(staff_user):
    client = Client()
    client.force_login(staff_user)
    paths = [LIST, f"{LIST}{DEVICE}/", f"{LIST}data/devices.json", f"{LIST}{DEVICE}/metrics.json"]

    assert [client.get(path).status_code for path in paths] == [403] * 4
    assert f'href="{LIST}"' not in client.get("/admin/console/").content.decode()

    grant(staff_user, "devices.view_devicestatehistory")
    assert [client.get(path).status_code for path in paths] == [200] * 4
    assert f'href="{LIST}"' in client.get("/admin/console/").content.decode()
