"""Careless and crafted configuration bodies are refused by name, as ingest refuses them:
`"threshold": true` was stored as 1.0, a `<script>` metric name was accepted for a metric
that can never be recorded, a 100 kB description was stored."""

import pytest

from apps.alerts.models import AlertChannel, AlertRule, Silence
from apps.alerts.serializers import MAX_NOTE
from tests.alerts.conftest import CHANNELS, RULES, SILENCES, rule_body
from tests.helpers import post_json

pytestmark = pytest.mark.django_db


def refused(response, field: str) -> None:
    assert response.status_code == 400, response.content
    assert field in response.json()["fields"], response.json()


@pytest.mark.parametrize(
    "field", ["threshold", "resolve_threshold", "duration_seconds", "window_seconds",
              "repeat_interval_seconds"]
)  # fmt: skip
@pytest.mark.parametrize("value", [True, False])
def test_a_boolean_for_a_rules_number_is_refused_not_stored_as_one(admin_client, field, value):
    body = {**rule_body(condition_operator="gt"), field: value}

    refused(post_json(admin_client, RULES, body), field)
    assert not AlertRule.objects.filter(name="cpu high").exists()


@pytest.mark.parametrize(
    "name", ["<script>", "cpu percent", "", "9lives", "a" * 201, "cpu\n", "cpu/percent"]
)
def test_a_metric_name_no_metric_can_have_is_refused(admin_client, name):
    refused(post_json(admin_client, RULES, rule_body(metric_name=name)), "metric_name")
    assert not AlertRule.objects.exists()


def test_the_metric_name_pattern_is_the_one_ingest_records_by(admin_client, ingest_client):
    # The same name is refused on both sides: a rule never waits for an impossible metric.
    point = {"metric_name": "cpu percent", "value": 1}
    ingest = post_json(ingest_client, "/api/v1/analytics/metrics/record", point)
    assert ingest.status_code == 400 or ingest.json()["rejected"], ingest.content
    refused(post_json(admin_client, RULES, rule_body(metric_name="cpu percent")), "metric_name")


def test_a_100_kb_description_is_refused(admin_client):
    response = post_json(admin_client, RULES, rule_body(description="x" * 100_000))

    refused(response, "description")
    assert str(MAX_NOTE) in str(response.json()["fields"]["description"])
    assert not AlertRule.objects.exists()


def test_a_rule_name_longer_than_its_column_is_a_400_not_a_500(admin_client):
    refused(post_json(admin_client, RULES, rule_body(name="r" * 201)), "name")


def test_patching_a_boolean_threshold_is_refused(admin_client):
    created = post_json(admin_client, RULES, rule_body())
    assert created.status_code == 201, created.content
    url = f"{RULES}/{created.json()['id']}"

    response = admin_client.patch(url, {"threshold": True}, format="json")

    refused(response, "threshold")
    assert AlertRule.objects.get().threshold == 90


def test_valid_rules_at_the_limits_are_still_created(admin_client):
    body = rule_body(
        metric_name="app:queue.depth-" + "x" * 180,
        description="d" * MAX_NOTE,
        threshold=0.5,
        resolve_threshold=0,
    )

    response = post_json(admin_client, RULES, body)

    assert response.status_code == 201, response.content
    rule = AlertRule.objects.get()
    assert (rule.threshold, rule.resolve_threshold) == (0.5, 0)
    assert len(rule.description) == MAX_NOTE


def test_a_long_silence_comment_is_refused_and_a_short_one_kept(admin_client):
    body = {"matchers": {"severity": "critical"}, "ends_at": "2099-01-01T00:00:00Z"}

    refused(post_json(admin_client, SILENCES, {**body, "comment": "c" * 100_000}), "comment")
    assert not Silence.objects.exists()
    ok = post_json(admin_client, SILENCES, {**body, "comment": "c" * MAX_NOTE})
    assert ok.status_code == 201, ok.content


def test_a_channel_name_longer_than_its_column_is_refused(admin_client):
    body = {"type": "email", "target": "ops@example.com"}

    refused(post_json(admin_client, CHANNELS, {**body, "name": "n" * 101}), "name")
    assert not AlertChannel.objects.exists()
    assert post_json(admin_client, CHANNELS, {**body, "name": "n" * 100}).status_code == 201


def test_a_boolean_channel_list_on_a_rule_is_refused(admin_client):
    refused(post_json(admin_client, RULES, rule_body(channels=[True])), "channels")
