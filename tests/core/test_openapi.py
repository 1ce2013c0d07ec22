"""The OpenAPI document is valid 3.1 and documents what each operation answers: its
error statuses with the one error shape, `Retry-After` on 429 and 503, and the
bounds the server enforces. Real answers are checked against it."""

import re

import jsonschema
import pytest
from drf_spectacular.validation import validate_schema
from rest_framework.test import APIClient

from apps.keys.throttling import KeyRateThrottle
from tests.helpers import post_json

INGEST = {
    "/api/v1/analytics/user-activity",
    "/api/v1/analytics/error",
    "/api/v1/analytics/device-state-change",
    "/api/v1/analytics/device-metrics",
    "/api/v1/analytics/job-outcome",
    "/api/v1/analytics/requests",
    "/api/v1/analytics/events",
    "/api/v1/analytics/metrics/record",
    "/api/v1/analytics/batch",
    "/api/v1/analytics/log-ai-usage",
}
READS = {
    "/api/v1/analytics/events",
    "/api/v1/analytics/ttft",
    "/api/v1/analytics/costs",
    "/api/v1/analytics/freshness",
    "/api/v1/analytics/trending",
    "/api/v1/analytics/advanced",
    "/api/v1/analytics/ai-features",
    "/api/v1/analytics/top-users",
    "/api/v1/analytics/user/{user_id}",
    "/api/v1/analytics/user/{user_id}/trends",
    "/api/v1/analytics/agent/{agent_id}",
    "/api/v1/analytics/agent/{agent_id}/trends",
    "/api/v1/analytics/platform/trends",
    "/api/v1/analytics/users/active",
    "/api/v1/analytics/users/retention",
    "/api/v1/analytics/dashboard",
    "/api/v1/analytics/generation-speed",
    "/api/v1/analytics/popular-scenarios",
    "/api/v1/analytics/metrics",
    "/api/v1/analytics/performance",
    "/api/v1/analytics/metrics/{name}/statistics",
    "/api/v1/analytics/metrics/{name}/time-series",
    "/api/v1/analytics/metrics/names",
    "/api/v1/analytics/metrics/{name}/tags/{key}/values",
    "/api/v1/metrics/api-performance",
    "/api/v1/metrics/job-outcomes",
    "/api/v1/metrics/error-trends",
    "/api/v1/metrics/device-state-history/{device_id}",
}
ALERTS = "/api/v1/analytics/alerts/"
MONITORING = "/api/v1/analytics/monitoring/"
PING = "/api/v1/analytics/monitoring/ping/{token}"
PRICES = "/api/v1/analytics/ai/prices"
DOCUMENTS = "/api/v1/analytics/ai/documents"  # an upsert: 200, not the pipeline's 202
BATCH_TRACK = "/api/v1/analytics/batch-track"
ISSUES = "/api/v1/analytics/issues"  # triage: bulk resolve / ignore
# Admin keys configure (and track periods), read keys read.
CONFIGURATION = (ALERTS, MONITORING, PRICES, BATCH_TRACK, ISSUES)
ERROR_REF = "#/components/schemas/Error"


@pytest.fixture
def document(db) -> dict:
    response = APIClient().get("/api/schema/", {"format": "json"})
    assert response.status_code == 200
    return response.json()


def operations(document: dict):
    for path, item in document["paths"].items():
        for method, operation in item.items():
            yield path, method, operation


def statuses(document: dict, path: str, method: str) -> set[int]:
    return {int(code) for code in document["paths"][path][method]["responses"]}


def validator(document: dict, schema: dict) -> jsonschema.Draft202012Validator:
    """A validator for `schema` whose #/components/... references resolve in the document."""
    return jsonschema.Draft202012Validator({**schema, "components": document["components"]})


def response_schema(document: dict, path: str, method: str, status: int) -> dict:
    content = document["paths"][path][method]["responses"][str(status)]["content"]
    return content["application/json"]["schema"]


def test_document_is_valid_openapi_3_1(document):
    assert document["openapi"].startswith("3.1")
    validate_schema(document)
    for schema in document["components"]["schemas"].values():
        jsonschema.Draft202012Validator.check_schema(schema)


def test_every_operation_documents_the_statuses_it_answers(document):
    for path, method, _ in operations(document):
        documented = statuses(document, path, method)
        if path == "/api/v1/analytics/health":
            expected = {200, 503}
            assert not documented & {401, 403, 429}, "health is public and never throttled"
        elif path == "/metrics":
            expected = {200, 401, 403, 429, 503}
        elif path == PING:  # public: the token in the path is the credential
            expected = {200, 404}
            assert not documented & {401, 403}
        elif path == DOCUMENTS:
            expected = {200, 400, 401, 403, 415, 429, 503}
        elif path.startswith(CONFIGURATION):  # configuration and triage: admin keys
            expected = {400, 401, 403, 429, 503}
            if "requestBody" in document["paths"][path][method]:
                expected.add(415)
        elif method == "post":
            assert path in INGEST
            expected = {202, 400, 401, 403, 413, 415, 429, 503}
        else:
            assert path in READS
            expected = {200, 400, 401, 403, 429, 503}
        if "{" in path or (path == "/api/v1/analytics/events" and method == "get"):
            expected.add(404)  # a path parameter that routes nowhere, or a foreign cursor
        assert expected <= documented, (method, path, expected - documented)
    posts = {path for path, method, _ in operations(document) if method == "post"}
    writes = {path for path in posts if not path.startswith(CONFIGURATION)}
    assert writes - {DOCUMENTS} == INGEST


def test_errors_have_the_error_shape_and_retry_after(document):
    for path, method, operation in operations(document):
        for code, response in operation["responses"].items():
            if int(code) < 400:
                continue
            schema = response["content"]["application/json"]["schema"]
            if path == "/api/v1/analytics/health" and code == "503":
                assert schema == {"$ref": "#/components/schemas/SystemHealthOut"}
            elif method == "post" and code == "400" and path in INGEST:
                refs = [option["$ref"] for option in schema["oneOf"]]
                assert refs == [ERROR_REF, "#/components/schemas/IngestRejection"]
            else:
                assert schema == {"$ref": ERROR_REF}, (method, path, code)
            if code in ("429", "503"):
                header = response["headers"]["Retry-After"]
                assert header["required"] is True
                assert header["schema"]["type"] == "integer", (method, path, code)
    error = document["components"]["schemas"]["Error"]
    assert error["required"] == ["error", "detail"]  # `fields` only when the input named them
    assert set(error["properties"]) == {"error", "detail", "fields"}


def test_bounds_the_server_enforces_are_in_the_document(document):
    schemas = document["components"]["schemas"]
    event_type = schemas["EventIn"]["properties"]["event_type"]
    assert re.fullmatch(event_type["pattern"], "memory_posted")
    assert not re.fullmatch(event_type["pattern"], "MemoryPosted")
    assert "1 hour in the future" in schemas["EventIn"]["properties"]["timestamp"]["description"]
    assert "retention" in schemas["EventIn"]["properties"]["timestamp"]["description"]

    body = document["paths"]["/api/v1/analytics/job-outcome"]["post"]["requestBody"]
    one, many, batch = body["content"]["application/json"]["schema"]["oneOf"]
    assert one == {"$ref": "#/components/schemas/JobOutcomeIn"}
    assert (many["minItems"], many["maxItems"]) == (1, 1000)
    assert batch["properties"]["batch"] == many
    assert "1 MiB" in body["content"]["application/json"]["schema"]["description"]

    kinds = set()
    batch_item = schemas["BatchItem"]["oneOf"]
    for option in batch_item:
        item = schemas[option["$ref"].rsplit("/", 1)[1]]
        assert "kind" in item["required"] and item["additionalProperties"] is False
        kind = item["properties"]["kind"]
        ref = kind.get("allOf", [{}])[0].get("$ref")
        kinds |= set(schemas[ref.rsplit("/", 1)[1]]["enum"] if ref else [kind["const"]])
    assert {"event", "metric", "error", "job_outcome", "job-outcome", "requests"} <= kinds
    # Device metrics take the same path in a mixed batch, smart filter included.
    assert {"device_metric", "device-metrics"} <= kinds


@pytest.mark.parametrize(
    ("path", "name"),
    [
        ("/api/v1/analytics/events", "event_type"),
        ("/api/v1/analytics/events", "cursor"),
        ("/api/v1/metrics/job-outcomes", "job_type"),
        ("/api/v1/metrics/api-performance", "endpoint"),
    ],
)
def test_string_filters_are_documented_non_empty(document, path, name):
    parameters = document["paths"][path]["get"]["parameters"]
    assert next(p for p in parameters if p["name"] == name)["schema"]["minLength"] == 1


def test_events_page_size_bounds_are_documented(document):
    parameters = document["paths"]["/api/v1/analytics/events"]["get"]["parameters"]
    page_size = next(p for p in parameters if p["name"] == "page_size")["schema"]
    assert (page_size["type"], page_size["minimum"], page_size["maximum"]) == ("integer", 1, 1000)


@pytest.mark.parametrize(
    "body",
    [b'{"job_type": "x", ', b"", b"[]"],
    ids=["malformed JSON", "empty body", "empty list"],
)
def test_an_ingest_400_that_is_a_parse_error_matches_the_document(document, ingest_client, body):
    response = post_json(ingest_client, "/api/v1/analytics/job-outcome", body)

    assert response.status_code == 400
    schema = response_schema(document, "/api/v1/analytics/job-outcome", "post", 400)
    validator(document, schema).validate(response.json())
    validator(document, {"$ref": ERROR_REF}).validate(response.json())


def test_an_all_rejected_ingest_400_matches_the_document(document, ingest_client):
    response = post_json(
        ingest_client, "/api/v1/analytics/job-outcome", [{"job_type": ""}, "not an object"]
    )

    assert response.status_code == 400
    body = response.json()
    assert [item["index"] for item in body["rejected"]] == [0, 1]
    schema = response_schema(document, "/api/v1/analytics/job-outcome", "post", 400)
    validator(document, schema).validate(body)
    rejection = {"$ref": "#/components/schemas/IngestRejection"}
    validator(document, rejection).validate(body)


def test_a_throttled_answer_matches_the_document(document, read_client, monkeypatch):
    monkeypatch.setattr(KeyRateThrottle, "THROTTLE_RATES", {"ingest": "1/min", "read": "1/min"})
    path = "/api/v1/metrics/job-outcomes"
    assert read_client.get(path).status_code == 200

    response = read_client.get(path)

    assert response.status_code == 429
    assert int(response["Retry-After"]) >= 1
    validator(document, response_schema(document, path, "get", 429)).validate(response.json())


@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/metrics/job-outcomes?job_type=",
        "/api/v1/metrics/job-outcomes?hours=true",
        "/api/v1/analytics/events?page_size=0",
        "/api/v1/analytics/events?since=",
    ],
)
def test_a_refused_parameter_matches_the_document(document, read_client, url):
    response = read_client.get(url)

    assert response.status_code == 400
    path = url.split("?")[0]
    validator(document, response_schema(document, path, "get", 400)).validate(response.json())
    assert response.json()["fields"]


def test_a_missing_key_matches_the_document(document):
    response = APIClient().get("/api/v1/metrics/job-outcomes")

    assert response.status_code == 401
    schema = response_schema(document, "/api/v1/metrics/job-outcomes", "get", 401)
    validator(document, schema).validate(response.json())
