"""Uptime as the console and the status page draw it: per UTC day (a day with no check is
no data, not 100 %), over 24 h / 7 d / 30 d (the SLA report's figure), downtimes,
response times per bucket, heartbeat pings; and the `public` flag every write sets."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from apps.monitoring import checks, selectors, services
from apps.monitoring.models import Downtime, HealthCheck, HealthStatus, MonitoredService
from tests.helpers import post_json
from tests.monitoring.admin_form import ADMIN, service_form

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
TODAY = datetime(2026, 3, 10, tzinfo=UTC)
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
UPTIME = "/api/v1/analytics/monitoring/services/{}/uptime"


@pytest.fixture(autouse=True)
def _frozen():
    with time_machine.travel(NOW, tick=False):
        yield


def seed_service(name: str = "api", *, created: datetime = TODAY - 10 * DAY, **fields):
    service = services.service_create(
        data={"name": name, "check_type": "http", "target": "http://127.0.0.1:9/", **fields},
        actor="test",
    )
    MonitoredService.objects.filter(pk=service.pk).update(
        created_at=created, last_checked_at=NOW - timedelta(minutes=1), status="healthy"
    )
    service.refresh_from_db()
    return service


def seed_checks(service, start, end, *, every=HOUR, ms=100.0, status="healthy"):
    at, rows = start, []
    while at < end:
        rows.append(HealthCheck(service=service, status=status, response_time_ms=ms, checked_at=at))
        at += every
    HealthCheck.objects.bulk_create(rows)


def day_index(day: datetime, days: int = 90) -> int:
    return days - 1 - (TODAY - day).days


def test_a_day_down_half_the_time_shows_50_percent():
    service = seed_service()
    seed_checks(service, service.created_at, NOW)
    down_day = TODAY - 3 * DAY
    Downtime.objects.create(
        service=service, started_at=down_day + 6 * HOUR, ended_at=down_day + 18 * HOUR
    )

    days = selectors.uptime_days(services=[service])[service.pk]

    assert len(days) == 90 and days[-1].date == TODAY.date()
    half = days[day_index(down_day)]
    assert (half.date, half.uptime_percentage) == (down_day.date(), 50.0)
    assert (half.downtime_count, half.downtime_seconds) == (1, 12 * 3600.0)
    assert days[day_index(down_day - DAY)].uptime_percentage == 100.0
    # Today so far: monitored since midnight, up.
    assert (days[-1].uptime_percentage, days[-1].monitored_seconds) == (100.0, 12 * 3600.0)


def test_a_day_without_checks_is_no_data_not_100_percent():
    service = seed_service()
    silent = TODAY - 5 * DAY
    seed_checks(service, service.created_at, silent)
    seed_checks(service, silent + DAY, NOW)

    days = selectors.uptime_days(services=[service])[service.pk]

    assert days[day_index(silent)].uptime_percentage is None
    assert days[day_index(silent)].no_data
    assert days[day_index(silent + DAY)].uptime_percentage == 100.0
    # Before the service was monitored: no data either.
    assert days[day_index(service.created_at - DAY)].uptime_percentage is None
    assert days[day_index(service.created_at)].uptime_percentage == 100.0
    # The figure over 90 days counts only the days with data.
    assert selectors.uptime_over_days(days) == 100.0


def test_days_older_than_the_checks_retention_come_from_the_downtimes(settings):
    settings.MONITORING_CHECK_RETENTION_DAYS = 31
    service = seed_service(created=TODAY - 60 * DAY)
    seed_checks(service, NOW - 31 * DAY, NOW)  # the older checks were purged
    old = TODAY - 40 * DAY
    Downtime.objects.create(service=service, started_at=old, ended_at=old + 6 * HOUR)

    days = selectors.uptime_days(services=[service])[service.pk]

    assert days[day_index(old)].uptime_percentage == 75.0
    assert days[day_index(old - DAY)].uptime_percentage == 100.0  # checked since
    assert days[day_index(TODAY - 61 * DAY)].uptime_percentage is None  # not yet monitored


def test_an_ongoing_downtime_counts_to_now_everywhere(read_client):
    service = seed_service()
    seed_checks(service, service.created_at, NOW)
    Downtime.objects.create(service=service, started_at=NOW - 3 * HOUR, error="refused")
    MonitoredService.objects.filter(pk=service.pk).update(
        status="unhealthy", consecutive_failures=180
    )
    service.refresh_from_db()

    days = selectors.uptime_days(services=[service])[service.pk]
    windows = selectors.uptime_windows(services=[service])[service.pk]
    outages = selectors.service_downtimes(service=service, since=NOW - 7 * DAY)

    assert days[-1].uptime_percentage == 75.0  # 3 h of the 12 h today
    assert windows["24h"] == 87.5
    assert outages[0].ongoing and outages[0].seconds == 3 * 3600
    body = read_client.get(UPTIME.format(service.pk)).json()
    assert body["downtimes"][0] == {
        "start": "2026-03-10T09:00:00Z",
        "end": None,
        "ongoing": True,
        "duration_seconds": 10800.0,
        "error": "refused",
    }
    assert body["service"]["status"] == "unhealthy"
    assert body["uptime"]["24h"] == 87.5
    assert body["days"][-1]["uptime_percentage"] == 75.0


def test_the_windows_are_the_sla_reports_figures():
    service = seed_service(created=TODAY - 40 * DAY)
    seed_checks(service, NOW - 31 * DAY, NOW)
    for start, hours in ((NOW - 20 * DAY, 5), (NOW - 3 * DAY, 2), (NOW - 10 * HOUR, 1)):
        Downtime.objects.create(service=service, started_at=start, ended_at=start + hours * HOUR)

    windows = selectors.uptime_windows(services=[service])[service.pk]

    for label, length in selectors.UPTIME_WINDOWS.items():
        report = selectors.sla_report(service, since=NOW - length, until=NOW)
        assert windows[label] == report["uptime_percentage"], label
    assert windows["24h"] == round(100 * (1 - 1 / 24), 4)


def test_a_service_never_checked_has_no_uptime_yet():
    service = services.service_create(
        data={"name": "new", "check_type": "http", "target": "http://127.0.0.1:9/"},
        actor="test",
    )

    assert selectors.uptime_windows(services=[service])[service.pk] == {
        "24h": None,
        "7d": None,
        "30d": None,
    }
    assert all(day.no_data for day in selectors.uptime_days(services=[service])[service.pk])


def test_uptime_of_many_services_takes_the_same_two_queries(django_assert_num_queries):
    few = [seed_service(f"s{i}") for i in range(2)]
    many = few + [seed_service(f"t{i}") for i in range(20)]
    for service in many:
        seed_checks(service, NOW - 2 * DAY, NOW)

    with django_assert_num_queries(2):
        selectors.uptime_days(services=few)
    with django_assert_num_queries(2):
        answer = selectors.uptime_days(services=many)
    assert all(days[-1].uptime_percentage == 100.0 for days in answer.values())
    with django_assert_num_queries(1):
        selectors.uptime_windows(services=many)


def test_the_uptime_endpoint_bounds_and_not_found(read_client):
    service = seed_service()

    assert len(read_client.get(UPTIME.format(service.pk) + "?days=30").json()["days"]) == 30
    for days in ("0", "91", "x", ""):
        response = read_client.get(UPTIME.format(service.pk) + f"?days={days}")
        assert response.status_code == 400 and "days" in response.json()["fields"], days
    assert read_client.get(UPTIME.format(service.pk + 999)).status_code == 404


def test_the_uptime_endpoint_needs_a_key(client):
    service = seed_service()
    assert client.get(UPTIME.format(service.pk)).status_code in (401, 403)


def test_the_uptime_summary_lists_every_service(read_client):
    service = seed_service()
    seed_checks(service, service.created_at, NOW)

    body = read_client.get("/api/v1/analytics/monitoring/uptime").json()

    assert body == [
        {
            "id": service.pk,
            "name": "api",
            "status": "healthy",
            "enabled": True,
            "public": False,
            "sla_target": 99.9,
            "uptime": {"24h": 100.0, "7d": 100.0, "30d": 100.0},
        }
    ]


def test_response_times_are_aggregated_per_bucket(read_client):
    service = seed_service()
    seed_checks(service, NOW - 24 * HOUR, NOW, ms=100.0)
    seed_checks(service, NOW - 24 * HOUR + timedelta(minutes=30), NOW, ms=300.0)

    body = read_client.get(
        f"/api/v1/analytics/monitoring/services/{service.pk}/response-times"
        "?hours=24&interval_seconds=3600"
    ).json()

    assert body["interval_seconds"] == 3600 and len(body["points"]) == 24
    assert body["points"][0] == {
        "start": "2026-03-09T12:00:00Z",
        "checks": 2,
        "failed": 0,
        "avg_ms": 200.0,
        "p95_ms": 290.0,
        "max_ms": 300.0,
    }
    default = read_client.get(
        f"/api/v1/analytics/monitoring/services/{service.pk}/response-times?hours=2160"
    ).json()
    assert default["interval_seconds"] == 25920  # about 300 buckets over 90 days


def test_heartbeat_pings_are_listed_not_the_scheduled_checks(read_client):
    service = seed_service("nightly", check_type="heartbeat", target="")
    services.heartbeat_ping(token=service.ping_token, now=NOW - 2 * HOUR)
    services.heartbeat_ping(token=service.ping_token, now=NOW - HOUR)
    services.check_record(
        service.pk,
        checks.Result(HealthStatus.UNHEALTHY, None, "late"),
        at=NOW - timedelta(minutes=30),
    )

    body = read_client.get(f"/api/v1/analytics/monitoring/services/{service.pk}/pings").json()

    assert body["pings"] == ["2026-03-10T11:00:00Z", "2026-03-10T10:00:00Z"]
    assert body["last_ping_at"] == "2026-03-10T11:00:00Z"


def test_public_is_set_through_the_api_and_the_admin(admin_api_client, oncall):
    created = post_json(
        admin_api_client,
        "/api/v1/analytics/monitoring/services",
        {"name": "api", "check_type": "http", "target": "http://127.0.0.1:9/"},
    ).json()
    assert (created["public"], created["public_name"]) == (False, "")
    changed = admin_api_client.patch(
        f"/api/v1/analytics/monitoring/services/{created['id']}",
        {"public": True, "public_name": "Public API"},
        format="json",
    )
    assert changed.status_code == 200 and changed.json()["public"] is True
    assert MonitoredService.objects.get(pk=created["id"]).display_name == "Public API"

    added = oncall.post(f"{ADMIN}/add/", service_form(name="web", public="on"))
    assert added.status_code == 302, added.content.decode()[:2000]
    web = MonitoredService.objects.get(name="web")
    assert web.public and web.display_name == "web"
    oncall.post(f"{ADMIN}/{web.pk}/change/", service_form(name="web"))
    web.refresh_from_db()
    assert not web.public


def test_the_schema_documents_the_uptime_endpoints(read_client):
    schema = read_client.get("/api/schema/?format=json").json()
    paths = schema["paths"]
    for path in (
        "/api/v1/analytics/monitoring/uptime",
        "/api/v1/analytics/monitoring/services/{id}/uptime",
        "/api/v1/analytics/monitoring/services/{id}/response-times",
        "/api/v1/analytics/monitoring/services/{id}/pings",
    ):
        assert path in paths, sorted(p for p in paths if "monitoring" in p)


def test_the_uptime_reads_answer_csv_too(read_client):
    service = seed_service()
    seed_checks(service, service.created_at, NOW)
    base = f"/api/v1/analytics/monitoring/services/{service.pk}"
    for path in (
        f"{base}/uptime",
        f"{base}/response-times",
        f"{base}/pings",
        "/api/v1/analytics/monitoring/uptime",
    ):
        response = read_client.get(path + ("&" if "?" in path else "?") + "format=csv")
        assert response.status_code == 200, (path, response.content[:300])
        assert response["Content-Type"].startswith("text/csv"), path


def test_the_days_with_checks_are_probed_per_service_and_day_whatever_the_statistics():
    """The uptime bars ask, for 100 services x 31 days, whether a check ran: one index probe
    each, a subquery the planner cannot turn into a join. Written as an EXISTS, the planner
    costed each probe once per weekly partition of the checks and hashed all 4.5 million
    of them instead: 19 s for the console's service list (bench/uptime.py)."""
    from django.db import connection

    def nodes(plan: dict):
        yield plan
        for child in plan.get("Plans", []):
            yield from nodes(child)

    params = {"ids": list(range(1, 101)), "low": 0, "high": 30, "first": TODAY - 30 * DAY}
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE monitoring_healthcheck")
        cursor.execute("EXPLAIN (FORMAT JSON) " + selectors._CHECKED_DAYS_SQL, params)
        plan = list(nodes(cursor.fetchone()[0][0]["Plan"]))
    assert [node["Subplan Name"] for node in plan if "Subplan Name" in node]  # probed per row
    assert not [node for node in plan if "Join Type" in node and node["Join Type"] == "Semi"]
    assert not [node for node in plan if node["Node Type"] in ("Hash", "Merge Join")]
