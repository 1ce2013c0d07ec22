"""The metric explorer's choices: metric names with their tag keys, and a tag's values."""

import pytest
from django.core.management import call_command
from django.db import connection

from apps.metrics.models import MetricTagKey
from tests.metrics.test_api import point, record

pytestmark = pytest.mark.django_db

BASE = "/api/v1/analytics/metrics"


@pytest.fixture
def recorded(ingest_client):
    record(
        ingest_client,
        [
            point("api.response_time", 120, endpoint="/a", method="GET"),
            point("api.response_time", 80, endpoint="/b", method="GET"),
            point("api.response_time", 95, endpoint="/b", method="POST", region="eu"),
            point("API.Errors", 1, metric_type="counter", endpoint="/a"),
            point("queue.depth", 7, metric_type="gauge"),
        ],
    )


def test_names_list_each_metric_with_its_tag_keys(recorded, read_client):
    body = read_client.get(f"{BASE}/names").json()

    assert body == {
        "metrics": [
            {
                "name": "API.Errors",
                "type": "counter",
                "unit": "",
                "series": 1,
                "tag_keys": ["endpoint"],
            },
            {
                "name": "api.response_time",
                "type": "timer",
                "unit": "",
                "series": 3,
                "tag_keys": ["endpoint", "method", "region"],
            },
            {"name": "queue.depth", "type": "gauge", "unit": "", "series": 1, "tag_keys": []},
        ],
        "truncated": False,
    }


def test_names_search_any_case_and_limit(recorded, read_client):
    found = read_client.get(f"{BASE}/names", {"search": "api."}).json()
    assert [m["name"] for m in found["metrics"]] == ["API.Errors", "api.response_time"]
    # LIKE's wildcards are plain characters here
    assert read_client.get(f"{BASE}/names", {"search": "%"}).json()["metrics"] == []

    limited = read_client.get(f"{BASE}/names", {"limit": 1}).json()
    assert ([m["name"] for m in limited["metrics"]], limited["truncated"]) == (["API.Errors"], True)


def test_a_new_label_set_adds_its_new_keys_once(recorded, ingest_client, read_client):
    record(
        ingest_client,
        [
            point("queue.depth", 9, metric_type="gauge", queue="mail"),
            point("queue.depth", 3, metric_type="gauge", queue="sms"),
        ],
    )

    body = read_client.get(f"{BASE}/names", {"search": "queue"}).json()
    assert body["metrics"][0]["tag_keys"] == ["queue"]
    assert body["metrics"][0]["series"] == 3
    assert MetricTagKey.objects.filter(metric_name="queue.depth").count() == 1


def test_tag_values_most_used_first(recorded, read_client):
    url = f"{BASE}/api.response_time/tags/endpoint/values"
    body = read_client.get(url).json()
    assert body == {
        "metric_name": "api.response_time",
        "tag_key": "endpoint",
        "values": [{"value": "/b", "series": 2}, {"value": "/a", "series": 1}],
        "truncated": False,
    }
    assert [v["value"] for v in read_client.get(url, {"search": "A"}).json()["values"]] == ["/a"]
    limited = read_client.get(url, {"limit": 1}).json()
    assert (len(limited["values"]), limited["truncated"]) == (1, True)
    missing = read_client.get(f"{BASE}/api.response_time/tags/nothing/values").json()
    assert missing["values"] == []


@pytest.mark.parametrize(
    ("path", "params", "field"),
    [
        ("names", {"limit": 0}, "limit"),
        ("names", {"limit": 1001}, "limit"),
        ("names", {"search": ""}, "search"),
        ("names", {"search": "x" * 201}, "search"),
        ("api.response_time/tags/a%20b/values", {}, "key"),
    ],
)
def test_bad_parameters_are_400_naming_them(read_client, path, params, field):
    response = read_client.get(f"{BASE}/{path}", params)
    assert response.status_code == 400
    assert field in response.json()["fields"]


def test_a_key_is_needed(client, ingest_client):
    assert client.get(f"{BASE}/names").status_code == 401
    assert ingest_client.get(f"{BASE}/names").status_code == 403


@pytest.mark.django_db(transaction=True)
def test_migration_lists_the_keys_of_series_stored_before_it(ingest_client):
    record(ingest_client, [point("old.metric", 1, host="a", disk="sda")])
    MetricTagKey.objects.all().delete()
    with connection.cursor() as cursor:  # as the table was before the migration
        cursor.execute("DROP TABLE metrics_metrictagkey")
    call_command("migrate", "metrics", "0003", fake=True, verbosity=0)

    call_command("migrate", "metrics", "0004", verbosity=0)
    call_command("migrate", "metrics", fake=True, verbosity=0)  # the later ones have run

    keys = MetricTagKey.objects.filter(metric_name="old.metric").values_list("tag_key", flat=True)
    assert sorted(keys) == ["disk", "host"]
