"""`?format=xml` on any endpoint was DRF's 404 (as if the endpoint did not exist); it is
a 400 naming `format`, as the SLA report's was, through the project's default
negotiation."""

import pytest
from django.conf import settings

from apps.monitoring.models import MonitoredService

pytestmark = pytest.mark.django_db

PERFORMANCE = "/api/v1/metrics/api-performance"


@pytest.mark.parametrize("fmt", ["xml", "CSV", "api", ""])  # csv: every read (issue 19)
def test_an_unknown_format_on_a_read_is_a_400_naming_format(read_client, fmt):
    response = read_client.get(f"{PERFORMANCE}?format={fmt}")

    assert response.status_code == 400, response.content
    assert response["Content-Type"] == "application/json"
    assert response.json()["error"] == "invalid"
    assert "json" in response.json()["fields"]["format"][0]


def test_format_json_and_no_format_still_answer(read_client):
    assert read_client.get(f"{PERFORMANCE}?format=json").status_code == 200
    assert read_client.get(PERFORMANCE).status_code == 200


def test_an_unknown_format_on_a_configuration_endpoint_is_a_400(admin_api_client):
    response = admin_api_client.get("/api/v1/analytics/alerts/rules?format=xml")

    assert response.status_code == 400
    assert "format" in response.json()["fields"]


def test_the_sla_report_still_answers_csv_and_refuses_xml(read_client):
    MonitoredService.objects.create(name="api", check_type="http", target="http://127.0.0.1:9/")
    sla = "/api/v1/analytics/monitoring/sla/api?hours=24"

    as_csv = read_client.get(f"{sla}&format=csv")
    assert as_csv.status_code == 200, as_csv.content
    assert as_csv["Content-Type"].startswith("text/csv")
    xml = read_client.get(f"{sla}&format=xml")
    assert xml.status_code == 400
    assert "csv" in xml.json()["fields"]["format"][0]


def test_the_negotiation_is_the_projects_default():
    negotiation = settings.REST_FRAMEWORK["DEFAULT_CONTENT_NEGOTIATION_CLASS"]
    assert negotiation == "apps.core.negotiation.FormatParameterNegotiation"
