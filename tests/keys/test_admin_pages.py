"""The admin as staff find it: one "API keys" page (keys made there work), and a
"View site" link that leads somewhere.

The library's own key admin was a second "API keys" page whose keys got 401
everywhere, and "View site" led to a JSON 404.
"""

import re

import pytest
from rest_framework.test import APIClient

from apps.keys.authentication import _valid_keys

pytestmark = pytest.mark.django_db


def test_the_admin_index_lists_one_api_keys_page(admin_client):
    index = admin_client.get("/admin/").content.decode()

    assert len(re.findall(r">\s*API keys\s*<", index)) == 1
    assert "/admin/keys/apikey/" in index
    assert "/admin/rest_framework_api_key/" not in index


@pytest.mark.parametrize("page", ["", "add/"])
def test_the_library_key_admin_is_not_there(admin_client, page):
    response = admin_client.get(f"/admin/rest_framework_api_key/apikey/{page}")

    assert response.status_code == 404


def test_a_key_added_in_the_admin_reads(admin_client):
    response = admin_client.post(
        "/admin/keys/apikey/add/", {"name": "grafana", "scope": "read"}, follow=True
    )

    assert response.status_code == 200
    # The library's add view shows the new key once, in a message.
    shown = re.search(r"\b([A-Za-z0-9]{8}\.[A-Za-z0-9]{32})\b", response.content.decode())
    assert shown, "the new key is not shown"
    _valid_keys.clear()
    read = APIClient().get("/api/v1/metrics/api-performance", HTTP_X_API_KEY=shown.group(1))
    assert read.status_code == 200


def test_view_site_leads_to_a_page(admin_client):
    index = admin_client.get("/admin/").content.decode()
    link = re.search(r'<a href="([^"]+)">View site</a>', index)

    assert link, "the admin has no View site link"
    page = admin_client.get(link.group(1))
    assert page.status_code == 200
    assert page["Content-Type"].startswith("text/html")
