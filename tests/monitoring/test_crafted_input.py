"""Careless and crafted input to the monitoring API: formulas in names, unknown formats,
names a URL cannot carry, pings to a disabled heartbeat."""

import csv
import io
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

import pytest
import time_machine
from django.test import Client
from rest_framework.test import APIClient

from apps.monitoring import checks, services
from apps.monitoring.builtin import BUILTIN_SERVICES
from apps.monitoring.models import MonitoredService
from apps.monitoring.serializers import SERVICE_NAME_HELP, ServiceSerializer
from tests.helpers import post_json
from tests.monitoring.admin_form import ADMIN, service_form

pytestmark = pytest.mark.django_db

SERVICES = "/api/v1/analytics/monitoring/services"
HEALTH = "/api/v1/analytics/monitoring/health"
SLA = "/api/v1/analytics/monitoring/sla"
T0 = datetime(2026, 11, 1, tzinfo=UTC)


def csv_rows(response) -> list[list[str]]:
    return list(csv.reader(io.StringIO(response.content.decode())))


def monitored_with_an_outage(client, name: str) -> None:
    """Created through the API, checked from T0: down 01:00-01:30, so the error budget
    of a 99.9% target is spent (a negative number in the report)."""
    with time_machine.travel(T0, tick=False):
        created = post_json(
            client, SERVICES, {"name": name, "check_type": "http", "target": "http://api/"}
        )
    assert created.status_code == 201, created.content
    pk = created.json()["id"]
    down, up = checks.Result("unhealthy", None, "refused"), checks.Result("healthy", 40.0)
    for minute, result in [(0, up), (60, down), (90, up), (600, up)]:
        services.check_record(pk, result, at=T0 + timedelta(minutes=minute))


# CSV injection ------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["=1+1", "@SUM(1+1)", "+1+1", "-1+1"])
def test_a_formula_in_a_service_name_reaches_the_sla_csv_as_text(admin_api_client, name):
    monitored_with_an_outage(admin_api_client, name)
    with time_machine.travel(T0 + timedelta(hours=10), tick=False):
        response = admin_api_client.get(f"{SLA}/{quote(name)}?hours=24&format=csv")

    assert response.status_code == 200, response.content
    rows = csv_rows(response)
    # A spreadsheet shows a cell that starts with ' as the text after it.
    assert ["service_name", f"'{name}"] in rows
    cells = [cell for row in rows for cell in row]
    assert not any(cell[:1] in ("=", "+", "@", "\t", "\r") for cell in cells)
    # Numbers stay numbers, a negative one too (the budget is spent: 36 - 1800 s).
    assert ["error_budget_remaining_seconds", "-1764.0"] in rows
    assert ["uptime_percentage", "95.0"] in rows


def test_a_formula_starting_the_no_data_detail_is_neutralised_too(admin_api_client):
    with time_machine.travel(T0, tick=False):
        post_json(
            admin_api_client,
            SERVICES,
            {"name": "=HYPERLINK(1)", "check_type": "http", "target": "http://x/"},
        )
    with time_machine.travel(T0 + timedelta(hours=1), tick=False):
        response = admin_api_client.get(f"{SLA}/{quote('=HYPERLINK(1)')}?format=csv")

    detail = dict(row for row in csv_rows(response) if len(row) == 2)["detail"]
    assert detail.startswith("'=HYPERLINK(1) was not checked between")


def test_the_json_sla_report_keeps_the_name_as_it_is(admin_api_client):
    monitored_with_an_outage(admin_api_client, "=1+1")
    with time_machine.travel(T0 + timedelta(hours=10), tick=False):
        report = admin_api_client.get(f"{SLA}/{quote('=1+1')}?hours=24").json()
    assert report["service_name"] == "=1+1"  # only the spreadsheet format is escaped


# ?format= ------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["xml", "api", "CSV", ""])
def test_an_unknown_format_is_a_400_naming_format(read_client, fmt):
    MonitoredService.objects.create(name="api", check_type="http", target="http://api/")

    response = read_client.get(f"{SLA}/api?format={fmt}")

    assert response.status_code == 400, response.content
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert body["error"] == "invalid"
    assert body["fields"]["format"] == ["One of: json, csv."]


def test_known_formats_still_answer(read_client):
    MonitoredService.objects.create(name="api", check_type="http", target="http://api/")
    assert read_client.get(f"{SLA}/api?format=csv")["Content-Type"].startswith("text/csv")
    assert read_client.get(f"{SLA}/api?format=json").json()["service_name"] == "api"
    assert read_client.get(f"{SLA}/nope?format=csv").status_code == 404  # no such service


# Names a URL path segment carries ------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    ["a/b", "a\\b", "a?b", "a#b", "a%2Fb", "50%", ".", "..", "a\tb", "a\nb", "<b>", 'a"b'],
)
def test_a_name_a_url_cannot_carry_is_a_400_naming_name(admin_api_client, name):
    response = post_json(
        admin_api_client, SERVICES, {"name": name, "check_type": "http", "target": "http://x/"}
    )

    assert response.status_code == 400, response.content
    assert "name" in response.json()["fields"]
    assert not MonitoredService.objects.exists()


def test_renaming_to_a_name_a_url_cannot_carry_is_a_400(admin_api_client):
    created = post_json(
        admin_api_client, SERVICES, {"name": "api", "check_type": "http", "target": "http://x/"}
    ).json()
    response = admin_api_client.patch(
        f"{SERVICES}/{created['id']}", {"name": "api/v2"}, format="json"
    )
    assert response.status_code == 400 and "name" in response.json()["fields"]
    assert MonitoredService.objects.get().name == "api"


@pytest.mark.parametrize(
    "name",
    [
        "billing api",
        "Billing API (EU)",
        "db.internal_2-replica",
        "=1+1",
        "@SUM(1+1)",
        "a:b;c,d!e$f&g'h*i~j",
        "café",
        "...x",
    ],
)
def test_every_accepted_name_is_reachable_by_its_urls(admin_api_client, read_client, name):
    created = post_json(
        admin_api_client, SERVICES, {"name": name, "check_type": "http", "target": "http://x/"}
    )
    assert created.status_code == 201, created.content

    segment = quote(name, safe="")  # what a client's URL encoding sends
    health = read_client.get(f"{HEALTH}/{segment}")
    sla = read_client.get(f"{SLA}/{segment}")
    assert health.status_code == 200, health.content
    assert sla.status_code == 200, sla.content
    assert health.json()["service_name"] == sla.json()["service_name"] == name


@pytest.mark.parametrize("spec", BUILTIN_SERVICES, ids=lambda spec: spec["name"])
def test_the_built_in_checks_names_stay_valid(spec):
    data = {**spec, "check_type": "custom", "target": spec["name"]}
    serializer = ServiceSerializer(data=data)
    assert serializer.is_valid(), serializer.errors


def test_a_service_saved_before_the_rule_can_still_be_edited(admin_api_client):
    """A name accepted by an older version stays editable (and reachable by its id)."""
    service = MonitoredService.objects.create(
        name="old/name", check_type="http", target="http://x/"
    )
    response = admin_api_client.patch(
        f"{SERVICES}/{service.pk}", {"interval_seconds": 120}, format="json"
    )
    assert response.status_code == 200, response.content


def test_the_admin_refuses_a_name_a_url_cannot_carry(staff_user):
    staff_user.is_superuser = True
    staff_user.save()
    client = Client()
    client.force_login(staff_user)
    form = service_form(name="api/v2", failure_threshold=3)

    refused = client.post(f"{ADMIN}/add/", form)

    assert refused.status_code == 200  # the form again, the error beside the name
    assert refused.context["adminform"].form.errors["name"] == [SERVICE_NAME_HELP]
    assert not MonitoredService.objects.exists()


# Pings to a disabled heartbeat ---------------------------------------------------------


def test_a_ping_to_a_disabled_heartbeat_says_so_and_is_not_counted(admin_api_client):
    created = post_json(
        admin_api_client,
        SERVICES,
        {"name": "nightly-backup", "check_type": "heartbeat", "interval_seconds": 86400},
    ).json()
    admin_api_client.patch(f"{SERVICES}/{created['id']}", {"enabled": False}, format="json")
    path = created["ping_url"].removeprefix("http://testserver")

    response = APIClient().get(path)
    posted = APIClient().post(path)

    # 200 like any ping (a cron job's `curl -f` does not fail for it), saying it is ignored.
    assert response.status_code == posted.status_code == 200
    assert response.json() == {
        "status": "disabled",
        "detail": "The service is disabled; its pings are not counted.",
    }
    service = MonitoredService.objects.get(name="nightly-backup")
    assert service.checks.count() == 0
    assert (service.last_ping_at, service.status) == (None, "unknown")


def test_a_ping_after_enabling_again_counts(admin_api_client):
    created = post_json(
        admin_api_client,
        SERVICES,
        {"name": "nightly-backup", "check_type": "heartbeat", "interval_seconds": 86400},
    ).json()
    url = f"{SERVICES}/{created['id']}"
    path = created["ping_url"].removeprefix("http://testserver")
    admin_api_client.patch(url, {"enabled": False}, format="json")
    APIClient().get(path)
    admin_api_client.patch(url, {"enabled": True}, format="json")

    response = APIClient().get(path)

    assert response.status_code == 200 and response.json() == {"status": "ok"}
    assert MonitoredService.objects.get(name="nightly-backup").checks.count() == 1
