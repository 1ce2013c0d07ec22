"""The monitoring API: services, heartbeat pings, health summary and SLA reports."""

import csv
import io
from datetime import UTC, datetime, timedelta
from io import StringIO

import pytest
import time_machine
from django.core.management import call_command
from rest_framework.test import APIClient

from apps.monitoring import checks, services
from apps.monitoring.models import MonitoredService
from tests.alerts.receiver import Receiver
from tests.helpers import post_json

pytestmark = pytest.mark.django_db

SERVICES = "/api/v1/analytics/monitoring/services"
HEALTH = "/api/v1/analytics/monitoring/health"
SLA = "/api/v1/analytics/monitoring/sla"


def test_create_a_service_with_defaults(admin_api_client):
    response = post_json(
        admin_api_client,
        SERVICES,
        {"name": "api", "check_type": "http", "target": "http://api:8000/"},
    )

    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["interval_seconds"], body["timeout_seconds"], body["expected_status"]) == (
        60,
        10.0,
        200,
    )
    assert (body["failure_threshold"], body["sla_target"], body["status"]) == (3, 99.9, "unknown")
    assert body["ping_url"] is None and body["created_by"] == "key:oncall-bot"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"check_type": "http", "target": "ftp://x/"}, "target"),
        ({"check_type": "tcp", "target": "db"}, "target"),
        ({"check_type": "tcp", "target": "db:99999"}, "target"),
        ({"check_type": "custom", "target": "nope"}, "target"),
        ({"check_type": "ping", "target": "x"}, "check_type"),
        ({"check_type": "http", "target": "http://x/", "interval_seconds": 4}, "interval_seconds"),
        (
            {
                "check_type": "http",
                "target": "http://x/",
                "interval_seconds": 10,
                "timeout_seconds": 10,
            },
            "timeout_seconds",
        ),
        ({"check_type": "http", "target": "http://x/", "sla_target": 100.5}, "sla_target"),
        (
            {"check_type": "http", "target": "http://x/", "failure_threshold": 0},
            "failure_threshold",
        ),
        ({"check_type": "http", "target": "http://x/", "intervall": 30}, "intervall"),
    ],
)
def test_bad_service_input_is_a_400_naming_the_field(admin_api_client, body, field):
    response = post_json(admin_api_client, SERVICES, {"name": "svc", **body})
    assert response.status_code == 400
    assert field in response.json()["fields"]


def test_access(ingest_client, read_client, admin_api_client):
    body = {"name": "db", "check_type": "tcp", "target": "db:5432"}
    assert APIClient().get(SERVICES).status_code == 401
    assert post_json(ingest_client, SERVICES, body).status_code == 403
    assert ingest_client.get(HEALTH).status_code == 403
    assert post_json(read_client, SERVICES, body).status_code == 403
    assert post_json(admin_api_client, SERVICES, body).status_code == 201
    assert read_client.get(SERVICES).status_code == 200
    assert post_json(admin_api_client, SERVICES, body).status_code == 400  # the name is taken


def test_heartbeat_ping_url_needs_no_key_and_records_a_healthy_check(admin_api_client):
    created = post_json(
        admin_api_client,
        SERVICES,
        {"name": "nightly-backup", "check_type": "heartbeat", "interval_seconds": 86400},
    ).json()
    ping_url = created["ping_url"]
    assert ping_url.startswith("http://testserver/api/v1/analytics/monitoring/ping/")

    path = ping_url.removeprefix("http://testserver")
    assert APIClient().get(path).status_code == 200
    assert APIClient().post(path).status_code == 200
    assert APIClient().get(path + "x").status_code == 404
    service = MonitoredService.objects.get(name="nightly-backup")
    assert service.status == "healthy" and service.checks.count() == 2


def test_health_summary_and_one_service(admin_api_client, read_client):
    with Receiver(200, 500) as target:
        for name, url in [("api", target.url), ("worker", target.url)]:
            post_json(
                admin_api_client, SERVICES, {"name": name, "check_type": "http", "target": url}
            )
        services.checks_run_due()

    summary = read_client.get(HEALTH).json()
    assert (summary["overall_status"], summary["total_services"]) == ("unhealthy", 2)
    assert (summary["healthy"], summary["unhealthy"], summary["degraded"]) == (1, 1, 0)
    names = {s["service_name"]: s for s in summary["services"]}
    assert {names["api"]["status"], names["worker"]["status"]} == {"healthy", "unhealthy"}

    one = read_client.get(f"{HEALTH}/api").json()
    assert one["service_name"] == "api" and len(one["recent_checks"]) == 1
    assert read_client.get(f"{HEALTH}/nope").status_code == 404


T0 = datetime(2026, 11, 1, tzinfo=UTC)


def test_a_service_not_checked_for_two_intervals_is_unknown(read_client):
    with time_machine.travel(T0, tick=False):
        service = MonitoredService.objects.create(
            name="api", check_type="http", target="http://api/", interval_seconds=60
        )
        services.check_record(service.pk, checks.Result("healthy", 5.0), at=T0)
    late = 2 * 60 + service.timeout_seconds  # two missed runs and a timeout

    with time_machine.travel(T0 + timedelta(seconds=late - 1), tick=False):
        assert read_client.get(HEALTH).json()["overall_status"] == "healthy"
    with time_machine.travel(T0 + timedelta(seconds=late + 1), tick=False):
        summary = read_client.get(HEALTH).json()
        one = read_client.get(f"{HEALTH}/api").json()

    assert (summary["overall_status"], summary["unknown"], summary["healthy"]) == ("unknown", 1, 0)
    assert summary["services"][0]["status"] == one["status"] == "unknown"
    assert one["error"].startswith(f"not checked for {late + 1:.0f} s")
    assert one["last_checked"] == "2026-11-01T00:00:00Z"


def scripted_history() -> MonitoredService:
    """Monitored from T0 for 10 h: down 10:00-10:30 (T0+1h..) and 12:00-12:06."""
    with time_machine.travel(T0, tick=False):
        service = MonitoredService.objects.create(
            name="api", check_type="http", target="http://api/", sla_target=99.0
        )
    down, up = checks.Result("unhealthy", None, "refused"), checks.Result("healthy", 40.0)
    script = [(0, up), (60, down), (75, down), (90, up), (180, down), (186, up), (600, up)]
    for minute, result in script:
        services.check_record(service.pk, result, at=T0 + timedelta(minutes=minute))
    return service


def test_sla_from_status_changes_against_hand_computed_downtime(read_client):
    scripted_history()
    with time_machine.travel(T0 + timedelta(hours=10), tick=False):
        report = read_client.get(f"{SLA}/api?hours=24").json()

    # The window starts when monitoring did (T0), not 24 h back: 10 h = 36,000 s.
    assert report["period_start"] == "2026-11-01T00:00:00Z"
    assert report["downtime_count"] == 2
    assert report["downtime_seconds"] == 30 * 60 + 6 * 60
    assert report["uptime_percentage"] == round(100 * (1 - 2160 / 36000), 4)  # 94.0
    assert report["compliant"] is False and report["target"] == 99.0
    assert report["error_budget_remaining_seconds"] == 360 - 2160
    assert report["downtimes"][0] == {
        "start": "2026-11-01T01:00:00Z",
        "end": "2026-11-01T01:30:00Z",
        "duration_seconds": 1800.0,
    }
    assert report["avg_response_time_ms"] == 40.0 and report["p95_response_time_ms"] == 40.0


def test_sla_window_cuts_downtimes_and_reports_an_ongoing_one(read_client):
    service = scripted_history()
    services.check_record(
        service.pk, checks.Result("unhealthy", None, "x"), at=T0 + timedelta(hours=11)
    )
    with time_machine.travel(T0 + timedelta(hours=12), tick=False):
        window = read_client.get(
            f"{SLA}/api?from=2026-11-01T01:15:00Z&to=2026-11-01T03:05:00Z"
        ).json()
        ongoing = read_client.get(f"{SLA}/api?hours=2").json()

    assert window["downtime_seconds"] == 15 * 60 + 5 * 60  # 01:15-01:30 and 03:00-03:05
    assert ongoing["downtimes"] == [
        {"start": "2026-11-01T11:00:00Z", "end": None, "duration_seconds": 3600.0}
    ]


def test_sla_as_csv_and_bad_parameters(read_client):
    scripted_history()
    with time_machine.travel(T0 + timedelta(hours=10), tick=False):
        response = read_client.get(f"{SLA}/api?hours=24&format=csv")
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert ["uptime_percentage", "94.0"] in rows
    assert ["downtime_start", "downtime_end", "duration_seconds"] in rows

    for query in [
        "hours=0",
        "hours=8761",
        "hours=",
        "from=2026-11-01T00:00:00Z",
        "from=2026-11-02T00:00:00Z&to=2026-11-01T00:00:00Z",
    ]:
        assert read_client.get(f"{SLA}/api?{query}").status_code == 400, query
    assert read_client.get(f"{SLA}/nope").status_code == 404


def test_run_health_checks_once_prints_each_result(admin_api_client):
    with Receiver(200) as target:
        post_json(
            admin_api_client, SERVICES, {"name": "api", "check_type": "http", "target": target.url}
        )
        out = StringIO()
        call_command("run_health_checks", "--once", stdout=out)
        call_command("run_health_checks", "--once", stdout=out)  # due or not
    lines = out.getvalue().splitlines()
    assert len(lines) == 2 and all(line.startswith("api: healthy in ") for line in lines)


def test_options_and_errors_are_json_even_when_csv_is_asked(read_client):
    scripted_history()
    assert read_client.options(f"{SLA}/api?format=csv")["Content-Type"] == "application/json"
    bad = read_client.get(f"{SLA}/api?format=csv&hours=0")
    assert bad.status_code == 400 and bad.json()["fields"]["hours"]


def test_sla_of_a_service_never_checked_is_no_data_not_100_percent(read_client):
    with time_machine.travel(T0, tick=False):
        MonitoredService.objects.create(name="api", check_type="http", target="http://api/")
    with time_machine.travel(T0 + timedelta(hours=5), tick=False):
        report = read_client.get(f"{SLA}/api?hours=24").json()
        as_csv = read_client.get(f"{SLA}/api?hours=24&format=csv")

    assert report["status"] == "no_data"
    assert (report["uptime_percentage"], report["compliant"]) == (None, None)
    assert report["error_budget_remaining_seconds"] is None
    assert report["detail"].startswith("api was not checked between")
    assert ["status", "no_data"] in list(csv.reader(io.StringIO(as_csv.content.decode())))


def test_sla_of_a_window_after_the_checks_stopped_is_no_data(read_client):
    scripted_history()  # checked until T0 + 10 h
    with time_machine.travel(T0 + timedelta(days=3), tick=False):
        stopped = read_client.get(f"{SLA}/api?hours=24").json()
        before = read_client.get(f"{SLA}/api?hours=72").json()

    assert (stopped["status"], stopped["uptime_percentage"]) == ("no_data", None)
    assert (before["status"], before["downtime_count"]) == ("ok", 2)


def test_health_summary_is_unknown_not_healthy_while_a_service_is_unknown(
    admin_api_client, read_client
):
    with Receiver(200) as target:
        post_json(
            admin_api_client, SERVICES, {"name": "api", "check_type": "http", "target": target.url}
        )
        services.checks_run_due()
    post_json(  # not checked yet: its state is not known
        admin_api_client,
        SERVICES,
        {"name": "nightly", "check_type": "heartbeat", "interval_seconds": 86400},
    )

    summary = read_client.get(HEALTH).json()

    assert (summary["healthy"], summary["unknown"]) == (1, 1)
    assert summary["overall_status"] == "unknown"
