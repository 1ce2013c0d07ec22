"""`manage.py evaluate_alerts --once` prints each rule's value and state."""

from datetime import UTC, datetime, timedelta
from io import StringIO

import pytest
from django.core.management import call_command

from apps.alerts.models import AlertIncident, AlertRule
from tests.alerts.conftest import record_points

pytestmark = pytest.mark.django_db


def test_once_evaluates_every_enabled_rule_and_prints_value_and_state(ingest_client):
    now = datetime.now(UTC)
    record_points(ingest_client, "queue.depth", [(120, now - timedelta(seconds=30))])
    for name, threshold, enabled in [
        ("deep", 100, True),
        ("shallow", 500, True),
        ("off", 1, False),
    ]:
        AlertRule.objects.create(
            name=name,
            metric_name="queue.depth",
            condition_operator="gt",
            threshold=threshold,
            window_seconds=300,
            enabled=enabled,
        )
    out, err = StringIO(), StringIO()

    call_command("evaluate_alerts", "--once", stdout=out, stderr=err)

    assert out.getvalue().splitlines() == [
        f"deep: value 120, firing (fire) incident #{AlertIncident.objects.get().pk}",
        "shallow: value 120, inactive (none)",
    ]
    assert "2 rule(s) evaluated" in err.getvalue()
