"""A channel's secret is write-only in the admin, as in the API: typed in, never shown.

The change page used to render it in a text input, readable by anyone looking at the
screen, in the page's HTML and in the browser's form history.
"""

import pytest
from django.contrib.admin.models import LogEntry
from django.test import Client

from apps.alerts import services
from apps.alerts.models import AlertChannel, ConfigChange

pytestmark = pytest.mark.django_db

SECRET = "whsec-Zq8mR2vL9xK4"


@pytest.fixture
def oncall(client, admin_user) -> Client:
    # pytest-django's superuser (tests/alerts/conftest.py's admin_client is an API key's).
    client.force_login(admin_user)
    return client


@pytest.fixture
def channel() -> AlertChannel:
    return services.channel_create(
        data={"name": "pager", "type": "email", "target": "p@example.com", "secret": SECRET},
        actor="key:setup",
    )


def page_of(channel: AlertChannel) -> str:
    return f"/admin/alerts/alertchannel/{channel.pk}/change/"


def form(channel: AlertChannel, **typed) -> dict:
    """The change form as the page shows it (the secret's field empty), `typed` in."""
    return {"name": channel.name, "type": channel.type, "target": channel.target, **typed}


def stored_secret(channel: AlertChannel) -> str:
    return AlertChannel.objects.get(pk=channel.pk).secret


def test_the_channel_page_never_shows_its_secret(oncall, channel):
    html = oncall.get(page_of(channel)).content.decode()

    assert 'name="secret"' in html and 'type="password"' in html
    assert SECRET not in html


def test_saving_the_channel_without_typing_a_secret_keeps_it(oncall, channel):
    response = oncall.post(page_of(channel), form(channel, target="q@example.com"))

    assert response.status_code == 302
    assert stored_secret(channel) == SECRET
    assert AlertChannel.objects.get(pk=channel.pk).target == "q@example.com"
    # The history says what changed: not the secret.
    assert "ecret" not in LogEntry.objects.get().get_change_message()


def test_typing_a_new_secret_changes_it(oncall, channel):
    response = oncall.post(page_of(channel), form(channel, secret="whsec-new-one"))

    assert response.status_code == 302
    assert stored_secret(channel) == "whsec-new-one"
    trail = ConfigChange.objects.filter(action="changed").get()
    assert "whsec" not in str(trail.changes)


def test_the_secret_can_be_removed(oncall, channel):
    response = oncall.post(page_of(channel), form(channel, clear_secret="on"))

    assert response.status_code == 302
    assert stored_secret(channel) == ""


def test_a_channel_added_without_a_secret_has_none(oncall):
    new = {"name": "mail", "type": "email", "target": "m@example.com", "secret": ""}

    assert oncall.post("/admin/alerts/alertchannel/add/", new).status_code == 302
    assert AlertChannel.objects.get().secret == ""
