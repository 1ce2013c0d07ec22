"""The rules every installation starts with, for the thresholds the replaced systems
alerted on. Installed once each (by name); an operator's later edits are kept, and a
deleted one is not brought back (`AlertRule.builtin` rows are remembered by name in
BuiltinRuleInstalled)."""

from django.db import transaction

from .models import AlertRule, BuiltinRuleInstalled
from .services import rule_create

# Metric names the system monitor, the health checks and the AI usage analytics record.
BUILTIN_RULES = [
    {
        "name": "CPU above 90% for 5 minutes",
        "metric_name": "system.cpu_percent",
        "aggregation": "avg",
        "condition_operator": "gt",
        "threshold": 90,
        "resolve_threshold": 80,
        "duration_seconds": 300,
        "window_seconds": 300,
        "severity": "warning",
    },
    {
        "name": "Memory above 95%",
        "metric_name": "system.memory_percent",
        "aggregation": "avg",
        "condition_operator": "gt",
        "threshold": 95,
        "resolve_threshold": 90,
        "window_seconds": 300,
        "severity": "critical",
    },
    {
        "name": "Disk above 90%",
        "metric_name": "system.disk_percent",
        "aggregation": "max",
        "condition_operator": "gt",
        "threshold": 90,
        "window_seconds": 300,
        "severity": "warning",
    },
    {
        # Evaluated by the health checks as each is stored (apps/monitoring/alerting.py),
        # on the services whose consecutive failures reached their failure_threshold; the
        # incident's fired line names them. The window is not read.
        "name": "A monitored service is down",
        "metric_name": "health.services_down",
        "aggregation": "max",
        "condition_operator": "gte",
        "threshold": 1,
        "window_seconds": 120,
        "severity": "critical",
    },
    {
        # Recorded each minute only when DATABASE_REPLICA_URL names a replica; reads
        # already run on the primary meanwhile (apps/core/replica.py).
        "name": "Read replica behind by more than 30 s",
        "metric_name": "database.replica_lag_seconds",
        "aggregation": "min",
        "condition_operator": "gt",
        "threshold": 30,
        "resolve_threshold": 5,
        "window_seconds": 300,
        "severity": "warning",
    },
    {
        "name": "Read replica not answering",
        "metric_name": "database.replica_up",
        "aggregation": "max",
        "condition_operator": "lt",
        "threshold": 1,
        "window_seconds": 180,
        "severity": "warning",
    },
    {
        "name": "AI response time above 10 s",
        "metric_name": "ai.response_time_ms",
        "aggregation": "p95",
        "condition_operator": "gt",
        "threshold": 10_000,
        "window_seconds": 300,
        "severity": "warning",
    },
    {
        "name": "AI success rate below 90%",
        "metric_name": "ai.success_rate",
        "aggregation": "avg",
        "condition_operator": "lt",
        "threshold": 90,
        "resolve_threshold": 95,
        "window_seconds": 900,
        "severity": "error",
    },
    {
        "name": "No active users for 1 hour",
        "metric_name": "users.active",
        "aggregation": "max",
        "condition_operator": "lt",
        "threshold": 1,
        "window_seconds": 3600,
        "severity": "info",
    },
    {
        # One point per error issue opened or reopened (a regression) as its errors are
        # stored (apps/errors/derive.py). Off until an operator enables it; then any
        # such point in the last 5 minutes opens an incident, resolved when none is.
        "name": "New or regressed error issue",
        "metric_name": "errors.issues_opened",
        "aggregation": "count",
        "condition_operator": "gte",
        "threshold": 1,
        "window_seconds": 300,
        "no_data": "resolve",
        "severity": "error",
        "enabled": False,
    },
]


def builtin_rules_install() -> list[str]:
    """Create the built-in rules never installed here; the names of those created.

    Each is made by `rule_create` as `system` (so the trail at /alerts/changes has it),
    with the default channels (ALERTS_DEFAULT_CHANNELS) that exist."""
    created = []
    with transaction.atomic():
        done = set(BuiltinRuleInstalled.objects.values_list("name", flat=True))
        for spec in BUILTIN_RULES:
            if spec["name"] in done:
                continue
            BuiltinRuleInstalled.objects.create(name=spec["name"])
            if AlertRule.objects.filter(name=spec["name"]).exists():
                continue  # a rule of that name was made by hand: it stays as it is
            rule_create(
                data={
                    **spec,
                    "description": "Built in; edit or disable it as you need.",
                    "builtin": True,
                },
                actor="system",
            )
            created.append(spec["name"])
    return created
