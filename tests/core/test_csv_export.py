"""Every read answers `?format=csv` (issue 19, "Export"): the JSON answer as one table a
spreadsheet opens, downloaded, with formulas neutralised; errors stay JSON, writes offer
no CSV, an unknown format is a 400 naming `format`."""

import csv
import io
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import pytest
import time_machine
from django.test import Client

from apps.core.renderers import flatten, table
from apps.events.models import Event
from apps.metrics.rollups import rollup_pending
from apps.monitoring import checks, services
from apps.monitoring.models import MonitoredService
from tests.helpers import ago, drain_outbox, iso, post_json

pytestmark = pytest.mark.django_db

API = "/api/v1/analytics"
TIME_SERIES = f"{API}/metrics/api.response_time/time-series"
ERROR_TRENDS = "/api/v1/metrics/error-trends"
ACTIVE = f"{API}/users/active"
COSTS = f"{API}/costs"
EVENTS = f"{API}/events"
SLA = f"{API}/monitoring/sla"


def ship(client, path: str, items) -> None:
    response = post_json(client, path, items)
    assert response.status_code == 202, response.content
    assert not response.json()["rejected"], response.content
    drain_outbox()


def download(client, url: str) -> list[dict[str, str]]:
    """GET url as CSV: the answer's rows by column name, after checking it is a download."""
    response = client.get(f"{url}{'&' if '?' in url else '?'}format=csv")
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith("attachment; filename=")
    assert response["Content-Disposition"].endswith(".csv")
    return list(csv.DictReader(io.StringIO(response.content.decode())))


def cell(value: object) -> str:
    """A JSON value as the CSV writes it (a text like a formula gets a leading ')."""
    if value is None:
        return ""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return str(value)


# What a user downloads matches what the JSON answer holds --------------------------------


def test_a_grouped_time_series_is_a_row_per_group_per_bucket(ingest_client, read_client):
    points = [
        {
            "metric_name": "api.response_time",
            "metric_type": "timer",
            "value": value,
            "tags": {"endpoint": endpoint},
            "timestamp": ago(minutes=minutes),
        }
        for endpoint, value, minutes in [("/a", 100, 5), ("/a", 300, 15), ("/b", 50, 5)]
    ]
    ship(ingest_client, f"{API}/metrics/record", points)
    rollup_pending()
    query = {"hours": 1, "interval": "10m", "group_by": "endpoint", "agg": "max"}

    answer = read_client.get(TIME_SERIES, query).json()
    rows = download(read_client, f"{TIME_SERIES}?{'&'.join(f'{k}={v}' for k, v in query.items())}")

    # Grouped, the answer holds the total series and one per group: rows of each.
    overall = [row for row in rows if not row["groups.value"]]
    assert [(row["buckets.start"], row["buckets.value"]) for row in overall] == [
        (bucket["start"], cell(bucket["value"])) for bucket in answer["buckets"]
    ]
    rows = [row for row in rows if row["groups.value"]]
    expected = [
        (group["value"], bucket["start"], cell(bucket["value"]), str(bucket["count"]))
        for group in answer["groups"]
        for bucket in group["buckets"]
    ]
    assert len(expected) == 3  # /a in two 10-minute buckets, /b in one
    assert [
        (row["groups.value"], row["groups.buckets.start"], row["groups.buckets.value"])
        + (row["groups.buckets.count"],)
        for row in rows
    ] == expected
    # The answer's own fields repeat on every row, as context.
    assert {(row["metric_name"], row["agg"], row["group_by"]) for row in rows} == {
        ("api.response_time", "max", "endpoint")
    }
    assert {"/a", "/b"} == {row["groups.value"] for row in rows}
    assert "300.0" in {row["groups.buckets.value"] for row in rows if row["groups.value"] == "/a"}


def test_the_download_is_named_after_the_endpoint(read_client):
    response = read_client.get(f"{API}/metrics/cpu.usage/time-series?format=csv")
    assert response["Content-Disposition"] == (
        "attachment; filename=metric-time-series-cpu.usage.csv"
    )
    response = read_client.get(f"{ACTIVE}?format=csv")
    assert response["Content-Disposition"] == "attachment; filename=usage-users-active.csv"


def test_error_trends_rows_are_its_buckets_with_the_counts_as_columns(ingest_client, read_client):
    now = datetime.now(UTC)
    ship(
        ingest_client,
        f"{API}/error",
        [
            {"category": category, "severity": severity, "error_message": "x", "timestamp": iso(at)}
            for category, severity, at in [
                ("database", "error", now),
                ("database", "critical", now),
                ("external_service", "warning", now - timedelta(hours=2)),
            ]
        ],
    )

    answer = read_client.get(ERROR_TRENDS, {"hours": 6, "interval": "30m"}).json()
    rows = download(read_client, f"{ERROR_TRENDS}?hours=6&interval=30m")

    hourly = [row for row in rows if row["hourly.hour"]]
    series = [row for row in rows if row["series.start"]]
    assert len(hourly) + len(series) == len(rows)
    assert [(r["hourly.hour"], r["hourly.count"]) for r in hourly] == [
        (bucket["hour"], str(bucket["count"])) for bucket in answer["hourly"]
    ]
    assert [(r["series.start"], r["series.count"]) for r in series] == [
        (bucket["start"], str(bucket["count"])) for bucket in answer["series"]
    ]
    first = rows[0]
    assert first["total_errors"] == "3"
    assert (first["by_category.database"], first["by_category.external_service"]) == ("2", "1")
    assert first["by_severity.critical"] == "1"


def test_active_users_rows_are_days_and_the_totals_stay_apart(ingest_client, read_client):
    with time_machine.travel(datetime(2026, 11, 20, 18, tzinfo=UTC), tick=False):
        for user, day in [("ann", "2026-11-20"), ("ann", "2026-11-18"), ("bob", "2026-11-19")]:
            event = {"event_type": "login", "user_id": user, "timestamp": f"{day}T10:00:00Z"}
            ship(ingest_client, EVENTS, [event])
        answer = read_client.get(ACTIVE, {"days": 3}).json()
        rows = download(read_client, f"{ACTIVE}?days=3")

    assert list(rows[0]) == ["dau", "wau", "mau"] + [
        f"series.{name}" for name in ("date", "dau", "wau", "mau")
    ]
    assert [
        {
            "date": r["series.date"],
            "dau": int(r["series.dau"]),
            "wau": int(r["series.wau"]),
            "mau": int(r["series.mau"]),
        }
        for r in rows
    ] == answer["series"]
    assert {(r["dau"], r["wau"], r["mau"]) for r in rows} == {
        (str(answer["dau"]), str(answer["wau"]), str(answer["mau"]))
    }


def test_ai_costs_a_list_of_objects_is_a_row_per_object(ingest_client, read_client):
    ship(
        ingest_client,
        f"{API}/log-ai-usage",
        [
            {
                "feature": "chat",
                "model": "gpt-4o",
                "timestamp": ago(minutes=5),
                "assistant_name": name,
                "assistant_id": assistant,
                "tokens_in": tokens,
                "tokens_out": 10,
            }
            for name, assistant, tokens in [
                ("=HYPERLINK(1)", "7d3c1c8e-6a49-4f43-8d0c-2b5f2f9d1a01", 1000),
                ("Bob", "0f9a4e2b-3c1d-4e5f-8a7b-6c5d4e3f2a10", 500),
            ]
        ],
    )

    answer = read_client.get(COSTS).json()
    rows = download(read_client, COSTS)

    assert len(answer) == 2
    assert rows == [{key: cell(value) for key, value in item.items()} for item in answer]
    assert "'=HYPERLINK(1)" in {row["assistant_name"] for row in rows}


def test_the_sla_report_keeps_its_layout_and_is_a_download(read_client):
    t0 = datetime(2026, 11, 1, tzinfo=UTC)
    with time_machine.travel(t0, tick=False):
        service = MonitoredService.objects.create(
            name="api", check_type="http", target="http://127.0.0.1:9/"
        )
    down, up = checks.Result("unhealthy", None, "refused"), checks.Result("healthy", 40.0)
    for minute, result in [(0, up), (60, down), (90, up), (600, up)]:
        services.check_record(service.pk, result, at=t0 + timedelta(minutes=minute))
    with time_machine.travel(t0 + timedelta(hours=10), tick=False):
        response = read_client.get(f"{SLA}/api?hours=24&format=csv")
        answer = read_client.get(f"{SLA}/api?hours=24").json()

    assert response["Content-Disposition"] == "attachment; filename=monitoring-sla-api.csv"
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows[0] == ["field", "value"]
    assert ["uptime_percentage", cell(answer["uptime_percentage"])] in rows
    table_at = rows.index(["downtime_start", "downtime_end", "duration_seconds"])
    assert rows[table_at + 1 :] == [
        [d["start"], d["end"], str(d["duration_seconds"])] for d in answer["downtimes"]
    ]


# Pagination -----------------------------------------------------------------------------


def test_a_paginated_list_is_its_page_and_the_next_page_is_in_a_link_header(
    ingest_client, read_client
):
    ship(
        ingest_client,
        EVENTS,
        [
            {
                "event_type": "page_view",
                "user_id": "u1",
                "timestamp": ago(minutes=minutes),
                "metadata": {"note": note, "plan": {"tier": "pro"}},
            }
            for minutes, note in [(1, "=1+1"), (2, "@SUM(1)"), (3, "plain")]
        ],
    )

    first = read_client.get(EVENTS, {"page_size": 2, "format": "csv"})
    rows = list(csv.DictReader(io.StringIO(first.content.decode())))
    page = read_client.get(EVENTS, {"page_size": 2}).json()

    assert [row["event_id"] for row in rows] == [item["event_id"] for item in page["results"]]
    assert "next" not in rows[0] and "results.event_id" not in rows[0]
    assert [row["metadata.note"] for row in rows] == ["'=1+1", "'@SUM(1)"]
    assert {row["metadata.plan.tier"] for row in rows} == {"pro"}
    link = first["Link"]
    assert link.endswith('>; rel="next"') and "format=csv" in link
    following = urlsplit(link[1 : link.index(">")])
    second = read_client.get(f"{following.path}?{following.query}")
    assert [
        row["metadata.note"] for row in csv.DictReader(io.StringIO(second.content.decode()))
    ] == ["plain"]
    assert "Link" not in second
    # The JSON answer keeps the values as they were sent: only the spreadsheet format escapes.
    assert {item["metadata"]["note"] for item in page["results"]} == {"=1+1", "@SUM(1)"}
    assert Event.objects.count() == 3


# Formats, errors and access -------------------------------------------------------------


@pytest.mark.parametrize(
    "url", [TIME_SERIES, ERROR_TRENDS, ACTIVE, COSTS, EVENTS, f"{API}/alerts/incidents"]
)
def test_an_unknown_format_is_a_400_naming_format_everywhere(admin_api_client, url):
    response = admin_api_client.get(url, {"format": "xml"})

    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"
    assert response.json()["fields"]["format"] == ["One of: json, csv."]


def test_an_invalid_parameter_is_the_json_error_even_when_csv_is_asked(read_client):
    response = read_client.get(ACTIVE, {"days": 0, "format": "csv"})

    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"
    assert "Content-Disposition" not in response
    assert "days" in response.json()["fields"]


def test_a_write_offers_no_csv_and_stores_nothing_asked_for_it(ingest_client):
    event = {"event_type": "login", "user_id": "u1", "timestamp": ago(minutes=1)}
    response = post_json(ingest_client, f"{EVENTS}?format=csv", [event])

    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"
    assert response.json()["fields"]["format"] == ["One of: json."]
    drain_outbox()
    assert not Event.objects.exists()
    # Without it the same write is taken as ever, and answers JSON.
    accepted = post_json(ingest_client, EVENTS, [event])
    assert accepted.status_code == 202 and accepted.json()["accepted"] == 1


def test_an_ingest_key_or_no_key_gets_the_json_refusal_not_a_download(ingest_client):
    refused = ingest_client.get(ACTIVE, {"format": "csv"})
    assert refused.status_code == 403
    assert refused["Content-Type"] == "application/json"
    assert "Content-Disposition" not in refused
    assert refused.json()["error"] == "permission_denied"

    anonymous = Client().get(ACTIVE, {"format": "csv"})
    assert anonymous.status_code == 401
    assert anonymous["Content-Type"] == "application/json"
    assert anonymous.json()["error"] == "not_authenticated"


def test_a_staff_session_downloads_too(staff_client):
    assert download(staff_client, COSTS) == []


def test_without_format_a_read_is_json_as_ever(read_client):
    response = read_client.get(ACTIVE)
    assert response["Content-Type"] == "application/json"
    assert "Content-Disposition" not in response


# The OpenAPI document --------------------------------------------------------------------


def test_the_document_offers_csv_on_reads_only():
    document = Client().get("/api/schema/?format=json").json()
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            for status, response in operation["responses"].items():
                has_csv = "text/csv" in response.get("content", {})
                reads = method == "get" and path.startswith("/api/v1/")
                assert has_csv == (reads and status == "200"), (method, path, status)
            formats = [p for p in operation.get("parameters", []) if p["name"] == "format"]
            if method == "get" and path.startswith("/api/v1/"):
                assert formats and set(formats[0]["schema"]["enum"]) == {"json", "csv"}, path
            else:
                assert not formats, (method, path)


# How answers flatten (the shapes the endpoints answer) -----------------------------------


def test_flatten_keeps_an_item_whose_lists_are_empty_and_spreads_scalar_lists():
    answer = {
        "weeks": 2,
        "cohorts": [
            {"cohort_start": "2026-11-02", "size": 4, "retained": [4, 2], "retention": [1.0, 0.5]},
            {"cohort_start": "2026-11-09", "size": 0, "retained": [], "retention": []},
        ],
        "groups": [{"value": "x", "buckets": []}],
    }

    assert table(flatten(answer)) == [
        ["weeks", "cohorts.cohort_start", "cohorts.size", "cohorts.retained.0",
         "cohorts.retained.1", "cohorts.retention.0", "cohorts.retention.1", "groups.value"],
        [2, "2026-11-02", 4, 4, 2, 1.0, 0.5, None],
        [2, "2026-11-09", 0, None, None, None, None, None],
        [2, None, None, None, None, None, None, "x"],
    ]  # fmt: skip


def test_flatten_of_a_single_object_is_one_row_and_nested_objects_are_dotted():
    assert flatten({"ttft": {"p50": 1.5, "p95": None}, "generated_at": "t"}) == [
        {"ttft.p50": 1.5, "ttft.p95": None, "generated_at": "t"}
    ]
    assert flatten([]) == [] and table([]) == []
    assert flatten(["a", "b"]) == [{"value": "a"}, {"value": "b"}]
    assert flatten({"a": [[1, 2], [3]]}) == [{"a.0": "[1, 2]", "a.1": "[3]"}]


def test_an_empty_list_is_still_a_csv_with_its_header(admin_api_client):
    response = admin_api_client.get(f"{API}/alerts/incidents?format=csv")

    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    lines = response.content.decode().splitlines()
    assert len(lines) == 1 and lines[0].startswith("id,rule,rule_name,status,severity,")


def test_options_is_json_and_head_is_the_download_without_a_body(read_client):
    options = read_client.options(f"{ACTIVE}?format=csv")
    assert options.status_code == 200
    assert options["Content-Type"] == "application/json"

    head = read_client.head(f"{ACTIVE}?format=csv")
    assert head.status_code == 200
    assert head["Content-Type"] == "text/csv; charset=utf-8"
    assert head["Content-Disposition"] == "attachment; filename=usage-users-active.csv"
    assert head.content == b""
