"""The key admin as staff use it: revoking from the change list, under the project's branding."""

import pytest
from django.test import Client
from rest_framework.test import APIClient

from apps.keys.authentication import _valid_keys
from apps.keys.models import APIKey
from apps.keys.services import api_key_create

READ = "/api/v1/metrics/api-performance"


@pytest.fixture
def admin_client(django_user_model) -> Client:
    user = django_user_model.objects.create_superuser(username="root", password="pw-root-123")
    client = Client()
    client.force_login(user)
    return client


def test_revoke_action_revokes_only_the_selected_keys(admin_client):
    leaked, leaked_plain = api_key_create(name="leaked", scope="read")
    kept, kept_plain = api_key_create(name="kept", scope="read")

    response = admin_client.post(
        "/admin/keys/apikey/",
        {"action": "revoke_keys", "_selected_action": [leaked.pk]},
        follow=True,
    )

    assert response.status_code == 200
    assert "1 key(s) revoked." in response.content.decode()
    assert APIKey.objects.get(pk=leaked.pk).revoked
    assert not APIKey.objects.get(pk=kept.pk).revoked
    _valid_keys.clear()
    assert APIClient().get(READ, HTTP_X_API_KEY=leaked_plain).status_code == 401
    assert APIClient().get(READ, HTTP_X_API_KEY=kept_plain).status_code == 200


def test_revoking_an_already_revoked_key_counts_nothing(admin_client):
    key, _ = api_key_create(name="old", scope="ingest")
    admin_client.post(
        "/admin/keys/apikey/", {"action": "revoke_keys", "_selected_action": [key.pk]}
    )

    response = admin_client.post(
        "/admin/keys/apikey/",
        {"action": "revoke_keys", "_selected_action": [key.pk]},
        follow=True,
    )

    assert "0 key(s) revoked." in response.content.decode()


def test_admin_pages_carry_the_project_branding(admin_client):
    page = admin_client.get("/admin/").content.decode()

    assert "Analytics &amp; observability" in page
    assert "<title>Site administration | Analytics admin</title>" in page
    assert "Django administration" not in page
