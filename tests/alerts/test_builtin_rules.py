"""`install_alert_rules` (run by `make run`): each built-in rule once, edits kept."""

from io import StringIO

import pytest
from django.core.management import call_command

from apps.alerts.builtin import BUILTIN_RULES
from apps.alerts.models import AlertRule

pytestmark = pytest.mark.django_db


def install() -> str:
    out = StringIO()
    call_command("install_alert_rules", stdout=out)
    return out.getvalue()


def test_installs_every_builtin_rule_once_and_keeps_edits_and_deletions():
    assert f"{len(BUILTIN_RULES)} of {len(BUILTIN_RULES)}" in install()
    rules = {rule.name: rule for rule in AlertRule.objects.all()}
    cpu = rules["CPU above 90% for 5 minutes"]
    assert (cpu.metric_name, cpu.condition_operator, cpu.threshold) == (
        "system.cpu_percent",
        "gt",
        90,
    )
    assert cpu.duration_seconds == 300 and cpu.builtin and cpu.enabled

    cpu.threshold = 97
    cpu.save()
    AlertRule.objects.filter(name="Disk above 90%").delete()

    assert f"0 of {len(BUILTIN_RULES)}" in install()
    assert AlertRule.objects.get(name=cpu.name).threshold == 97
    assert not AlertRule.objects.filter(name="Disk above 90%").exists()
    assert AlertRule.objects.count() == len(BUILTIN_RULES) - 1


def test_builtin_rules_without_data_stay_inactive():
    install()
    out = StringIO()
    call_command("evaluate_alerts", "--once", stdout=out, stderr=StringIO())
    lines = out.getvalue().splitlines()
    assert len(lines) == len(BUILTIN_RULES)
    assert all("value no data, inactive" in line for line in lines)
