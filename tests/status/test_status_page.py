"""GET /status/: the public status page shows the services staff marked public, and
nothing else about the deployment, to anyone, without a session."""

import pytest

from apps.monitoring import services
from apps.monitoring.models import MonitoredService
from tests.status.seed import SECRETS, seed

pytestmark = pytest.mark.django_db

STATUS = "/status/"


def test_anyone_gets_the_public_services_without_a_session(client):
    seeded = seed()

    response = client.get(STATUS)

    assert response.status_code == 200
    assert response["Content-Type"] == "text/html; charset=utf-8"
    html = response.content.decode()
    assert "Public API" in html and "Website" in html
    assert "Some systems are down" in html
    assert html.count('<span class="bar bar-') == 2 * 90
    assert f"{seeded.half_day:%Y-%m-%d}: 50.00 % up, 1 downtime (12 h 0 min)" in html
    # No cookie, no session: the same page for everyone, cacheable by a proxy.
    assert not response.cookies
    assert "Cookie" not in response.get("Vary", "")
    assert response["Cache-Control"] == "public, max-age=15"


def test_nothing_private_appears(client):
    seed()

    html = client.get(STATUS).content.decode()

    for secret in SECRETS:
        assert secret not in html, secret


def test_an_open_incident_shows_with_its_public_updates(client):
    seed()

    html = client.get(STATUS).content.decode()

    assert "Public API is unavailable" in html
    assert "Identified" in html
    assert "Investigating: we are looking into a problem with Public API." in html
    assert "Identified: our team is working on it." in html
    # The private service's incident is not told.
    assert html.count('class="incident"') == 1


def test_without_a_public_service_staff_are_told_how_to_add_one(client):
    services.service_create(
        data={"name": "db", "check_type": "tcp", "target": "10.0.0.5:5432"}, actor="t"
    )

    html = client.get(STATUS).content.decode()

    assert "No service is shown here yet." in html
    assert "tick <strong>public</strong>" in html
    assert "db" not in html.replace("data:", "")


def test_the_page_is_cached_briefly(client):
    seed()
    first = client.get(STATUS).content
    MonitoredService.objects.filter(name="Website").update(public=False)

    assert client.get(STATUS).content == first  # within CACHE_SECONDS


def test_a_disabled_public_service_is_left_out(client):
    seeded = seed()
    services.service_update(service=seeded.web, data={"enabled": False}, actor="t")

    html = client.get(STATUS).content.decode()

    assert "Website" not in html and "Public API" in html


def test_only_reading_is_allowed(client):
    assert client.post(STATUS).status_code == 405
    assert client.head(STATUS).status_code == 200


def test_the_status_app_reads_no_other_apps_tables():
    import ast
    from pathlib import Path

    for path in Path("apps/status").glob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module:
                assert not node.module.endswith(".models"), (path, node.module)


def test_the_page_costs_the_same_queries_for_many_public_services(django_assert_num_queries):
    from apps.status.selectors import status_page

    seed()
    with django_assert_num_queries(5):  # services, 2 for the bars, 2 for the incidents
        few = status_page()
    for n in range(10):
        services.service_create(
            data={
                "name": f"extra-{n}",
                "check_type": "tcp",
                "target": "10.0.0.9:80",
                "public": True,
            },
            actor="t",
        )
    with django_assert_num_queries(5):
        many = status_page()
    assert (len(few.services), len(many.services)) == (2, 12)
