"""Who gets the console: staff through the admin's sign-in, each panel and page only with
the view permission of the app it shows."""

import pytest
from django.contrib.auth.models import Permission
from django.test import Client

from apps.console import pages
from tests.helpers import grant

pytestmark = pytest.mark.django_db

OVERVIEW = "/admin/console/"
SOURCES = [f"/admin/console/data/{key}.json" for key in pages.PANELS]


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.mark.parametrize("path", [OVERVIEW, *SOURCES])
def test_anonymous_visitors_are_sent_to_the_admin_login_and_get_no_data(path):
    response = Client().get(path)

    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/?next=/admin/console/")


@pytest.mark.parametrize("path", [OVERVIEW, *SOURCES])
def test_signed_in_users_who_are_not_staff_get_the_login_form_too(outsider, path):
    response = signed_in(outsider).get(path)

    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")


def test_the_admin_home_and_view_site_lead_to_the_console(admin_client):
    home = admin_client.get("/admin/").content.decode()

    assert 'href="/admin/console/">View site</a>' in home
    assert 'id="console-card"' in home and 'href="/admin/console/">Staff console' in home
    assert 'id="content-main"' in home  # the app list is still there
    assert admin_client.get(OVERVIEW).status_code == 200


def test_staff_see_only_the_panels_of_the_apps_they_may_view(staff_user):
    grant(staff_user, "alerts.view_alertincident")
    client = signed_in(staff_user)

    page = client.get(OVERVIEW).content.decode()

    assert 'id="panel-incidents"' in page and 'id="panel-live"' in page
    for hidden in ("host", "traffic", "services", "ai", "users"):
        assert f'id="panel-{hidden}"' not in page
        source = client.get(f"/admin/console/data/{hidden}.json")
        assert source.status_code == 403, hidden
        assert source.json()["error"]
    assert client.get("/admin/console/data/incidents.json").status_code == 200


def test_a_page_declared_with_a_permission_is_hidden_and_refused_without_it(
    staff_user, monkeypatch
):
    # The overview made to need an app's permission, as every later page declares one.
    overview = pages.page_named("overview")
    gated = pages.Page(overview.key, overview.title, overview.url_name, "ai.view_aiusage")
    monkeypatch.setattr(pages, "PAGES", (gated, *pages.PAGES[1:]))

    client = signed_in(staff_user)
    refused = client.get(OVERVIEW)
    assert refused.status_code == 403
    assert "You do not have permission to view Overview" in refused.content.decode()
    assert 'aria-current="page"' not in refused.content.decode()  # not in the nav

    grant(staff_user, "ai.view_aiusage")
    staff_user = type(staff_user).objects.get(pk=staff_user.pk)  # permissions re-read
    page = signed_in(staff_user).get(OVERVIEW).content.decode()
    assert '<a href="/admin/console/" aria-current="page">Overview</a>' in page


def test_every_panel_answers_a_superuser_on_an_empty_database(admin_client):
    for path in SOURCES:
        response = admin_client.get(path)
        assert response.status_code == 200, (path, response.content[:300])


def test_every_permission_the_map_names_exists():
    """A typo in the map would hide a page from everyone but superusers."""
    named = {p.permission for p in pages.PAGES} | set(pages.PANELS.values())
    for name in named - {None}:
        app_label, codename = name.split(".")
        assert Permission.objects.filter(
            content_type__app_label=app_label, codename=codename
        ).exists(), name


@pytest.mark.django_db(transaction=True)
def test_the_consoles_own_reads_are_not_charted_as_api_traffic(admin_user, settings):
    """An open console reads its sources every minute: logged, they would fill the very
    request chart it draws, more with each person watching."""
    from apps.requestlog import middleware
    from apps.requestlog.models import APIRequestLog
    from tests.helpers import drain_outbox

    settings.ANALYTICS_ENABLED = True
    client = Client()  # built after the switch: its handler loads the middleware now
    client.force_login(admin_user)

    assert client.get(OVERVIEW, HTTP_X_REQUEST_ID="console-page").status_code == 200
    source = client.get("/admin/console/data/live.json", HTTP_X_REQUEST_ID="console-source")
    assert source.status_code == 200
    middleware.buffer.flush()
    drain_outbox()

    logged = set(APIRequestLog.objects.values_list("request_id", flat=True))
    assert "console-page" in logged  # people opening the console are requests like others
    assert "console-source" not in logged
