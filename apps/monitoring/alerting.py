"""A monitored service's outages become incidents through the alerting.

Every check records `health.consecutive_failures` (and `health.response_time_ms`)
for the service, and each service gets a built-in rule, editable in the alerting,
that fires when the failures reach its `failure_threshold` and resolves when a
check succeeds. Each cycle also records `health.services_down` for the built-in
"A monitored service is down" rule.
"""

from apps.alerts.models import AlertRule
from apps.alerts.selectors import rule_named
from apps.alerts.services import rule_create, rule_delete, rule_update
from apps.metrics.services import record_gauge

from .models import HealthStatus, MonitoredService

FAILURES_METRIC = "health.consecutive_failures"


def rule_name(service: MonitoredService) -> str:
    return _rule_name(service.name)


def _rule_name(service_name: str) -> str:
    return f"Service {service_name} is down"


def service_rule_ensure(service: MonitoredService, *, actor: str) -> AlertRule:
    """The service's rule, made or brought in line with its threshold and interval."""
    wanted = {
        "metric_name": FAILURES_METRIC,
        "tags": {"service": service.name},
        "aggregation": "max",
        # One interval back holds the newest check's count: the rule follows it.
        "window_seconds": service.interval_seconds,
        "condition_operator": "gte",
        "threshold": float(service.failure_threshold),
    }
    rule = rule_named(rule_name(service))
    if rule is None:
        return rule_create(
            data={
                "name": rule_name(service),
                "description": f"{service.check_type} check of {service.target or service.name}",
                "severity": "critical",
                **wanted,
            },
            actor=actor,
        )
    changed = {field: value for field, value in wanted.items() if getattr(rule, field) != value}
    return rule_update(rule=rule, data=changed, actor=actor) if changed else rule


def service_rule_rename(old_name: str, service: MonitoredService, *, actor: str) -> None:
    rule = rule_named(_rule_name(old_name))
    if rule is not None:
        rule_update(
            rule=rule,
            data={"name": rule_name(service), "tags": {"service": service.name}},
            actor=actor,
        )


def service_rule_delete(service: MonitoredService, *, actor: str) -> None:
    rule = rule_named(rule_name(service))
    if rule is not None:
        rule_delete(rule=rule, actor=actor)


def check_figures_record(
    service: MonitoredService, failures: int, response_ms: float | None
) -> None:
    labels = {"service": service.name}
    record_gauge(FAILURES_METRIC, failures, labels=labels)
    if response_ms is not None:
        record_gauge("health.response_time_ms", response_ms, labels=labels)


def services_down_record() -> None:
    down = MonitoredService.objects.filter(enabled=True, status=HealthStatus.UNHEALTHY).count()
    record_gauge("health.services_down", down)
