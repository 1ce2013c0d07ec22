"""The webhook body a receiver parses: the same documented v1 shape for every event."""

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from apps.alerts import evaluation, notifications
from tests.alerts.conftest import CHANNELS, RULES, record_points, rule_body
from tests.alerts.receiver import Receiver
from tests.helpers import post_json

pytestmark = pytest.mark.django_db

DOCS = Path(__file__).resolve().parents[2] / "docs" / "alerts.md"


def documented_body() -> dict:
    """The example under "Webhook body (version 1)" in docs/alerts.md."""
    text = DOCS.read_text()
    section = text[text.index("### Webhook body (version 1)") :]
    return json.loads(re.search(r"```json\n(.*?)```", section, re.S).group(1))


@pytest.fixture
def hook(allow_private_webhooks):
    with Receiver() as receiver:
        yield receiver


def test_the_test_notification_has_every_field_a_real_one_has(hook, admin_client, ingest_client):
    channel = post_json(
        admin_client, CHANNELS, {"name": "ops-hook", "type": "webhook", "target": hook.url}
    ).json()
    assert post_json(admin_client, RULES, rule_body(channels=["ops-hook"])).status_code == 201
    now = datetime.now(UTC)
    record_points(ingest_client, "system.cpu_percent", [(97, now - timedelta(seconds=5))])
    evaluation.rules_evaluate()
    for delivery_id in notifications.deliveries_due():
        notifications.delivery_send(delivery_id)
    response = post_json(admin_client, f"{CHANNELS}/{channel['id']}/test", {})
    assert response.json()["status"] == "delivered"

    real, test = (request.json() for request in hook.wait(2))
    assert (real["event"], test["event"]) == ("firing", "test")
    documented = documented_body()
    assert set(test) == set(real) == set(documented)
    assert set(test["rule"]) == set(real["rule"]) == set(documented["rule"])
    assert set(real["incident"]) == set(documented["incident"])
    assert test["incident"] is None  # documented: a test has no incident
    assert test["version"] == real["version"] == documented["version"] == "1"
