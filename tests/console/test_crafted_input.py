"""Crafted input on the console's pages, the status page and the endpoints added with them
(NUL bytes, numbers past bigint): a 4xx or an answer, never a 500."""

import pytest

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/analytics/metrics/names?search=a%00b",
        "/api/v1/analytics/metrics/x%00y/tags/k/values",
        "/api/v1/analytics/metrics/x/tags/k/values?search=%00",
        "/api/v1/analytics/metrics/names?limit=99999999999999999999",
        "/api/v1/analytics/metrics/names?format=csv&search=%00",
        "/api/v1/analytics/monitoring/services/99999999999999999999/uptime",
        "/api/v1/analytics/monitoring/services/1/response-times?hours=1e400",
        "/api/v1/metrics/error-trends?severity=%00",
    ],
)
def test_api_reads(read_client, url):
    r = read_client.get(url)
    assert r.status_code < 500, (url, r.status_code, r.content[:200])


@pytest.mark.parametrize(
    "url",
    [
        "/admin/console/product/users/a%00b/",
        "/admin/console/data/product/user.json?user_id=a%00b",
        "/admin/console/metrics/?metric=a%00b",
        "/admin/console/devices/a%00b/",
        "/admin/console/errors/?category=%00&hours=99999999999999999999",
        "/admin/console/data/ai/daily?days=%00",
        "/admin/console/uptime/99999999999999999999/",
        "/admin/console/devices/a%00/metrics.json",
        "/status/?x=%00",
    ],
)
def test_console_pages(admin_client, url):
    r = admin_client.get(url)
    assert r.status_code < 500, (url, r.status_code, r.content[:300])
