"""A monitored service's outages become incidents through the alerting, decided by the
checks themselves.

Each service gets a rule in the alerting, `Service <name> is down` (its severity,
channels, silences and `enabled` are edited there). The check that brings the service's
consecutive failures to its `failure_threshold` opens the rule's incident and the first
good check resolves it, whatever the interval: the rule is evaluated on the stored
check's count as the check is recorded (`rule_evaluate_value`), not from a metric window,
because a check's points arrive later than a short interval's window (a service checked
every 5 s opened nothing in 150 s of failures) and a long window outlives the outage (a
service checked every 60 s resolved 2 minutes after it came back).

Rules on `health.services_down` (the built-in "A monitored service is down") are
evaluated the same way on the number of services down, a service counting once its
failures reach its threshold; the incident's fired line names them. The evaluator's
cycle leaves both kinds of rule alone (registered in apps.py). The gauges
`health.consecutive_failures`, `health.response_time_ms` and `health.services_down` are
still recorded, for charts and statistics.
"""

import logging
from datetime import datetime

from django.db import transaction
from django.db.models import F, QuerySet

from apps.alerts.evaluation import rule_evaluate_value
from apps.alerts.models import AlertRule
from apps.alerts.selectors import rule_named
from apps.alerts.services import rule_create, rule_delete, rule_update
from apps.core.secrets import mask_credentials
from apps.metrics.services import record_gauge

from .models import HealthStatus, MonitoredService

logger = logging.getLogger(__name__)

FAILURES_METRIC = "health.consecutive_failures"
SERVICES_DOWN_METRIC = "health.services_down"
RESPONSE_TIME_METRIC = "health.response_time_ms"


def rule_name(service: MonitoredService) -> str:
    return _rule_name(service.name)


def _rule_name(service_name: str) -> str:
    return f"Service {service_name} is down"


def service_rule_ensure(service: MonitoredService, *, actor: str) -> AlertRule:
    """The service's rule, made or brought in line with its threshold."""
    wanted = {
        "metric_name": FAILURES_METRIC,
        "tags": {"service": service.name},
        "aggregation": "max",
        # Not read by the evaluation (the checks give the value); the chart's window.
        "window_seconds": service.interval_seconds,
        "condition_operator": "gte",
        "threshold": float(service.failure_threshold),
    }
    rule = rule_named(rule_name(service))
    if rule is None:
        return rule_create(
            data={
                "name": rule_name(service),
                # Masked: the trail and the rule are read by read keys (and the description
                # is free text, scrubbed besides).
                "description": f"{service.check_type} check of "
                f"{mask_credentials(service.target) or service.name}",
                "severity": "critical",
                # A built-in check's rule is built in too: it gets ALERTS_DEFAULT_CHANNELS.
                "builtin": service.builtin,
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


# --- rules the checks evaluate (the alert cycle skips them) -----------------------------


def is_service_rule(rule: AlertRule) -> bool:
    """A rule on one service's consecutive failures (`{"service": name}`)."""
    return (
        rule.metric_name == FAILURES_METRIC
        and isinstance(rule.tags, dict)
        and set(rule.tags) == {"service"}
    )


def is_services_down_rule(rule: AlertRule) -> bool:
    return rule.metric_name == SERVICES_DOWN_METRIC


def service_failures_now(rule: AlertRule) -> float | None:
    """The rule's service's consecutive failures now; None when no such service."""
    failures = (
        MonitoredService.objects.filter(name=rule.tags["service"])
        .values_list("consecutive_failures", flat=True)
        .first()
    )
    return None if failures is None else float(failures)


def down_services() -> QuerySet[MonitoredService]:
    """Enabled services whose consecutive failures reached their threshold: one failed check
    of a service that allows three is not an outage yet."""
    return MonitoredService.objects.filter(
        enabled=True,
        status=HealthStatus.UNHEALTHY,
        consecutive_failures__gte=F("failure_threshold"),
    ).order_by("name")


def services_down_now(rule: AlertRule | None = None) -> float:
    return float(down_services().count())


def service_incident_follow(
    service: MonitoredService, *, failures: int, error: str, at: datetime, note: str = ""
) -> None:
    """Evaluate the service's rule(s) on the check just stored: the check reaching the
    threshold opens the incident, the first good one resolves it. Runs in the caller's
    transaction, under the service's row lock, so two checks of one service apply in order."""
    rules = AlertRule.objects.filter(
        enabled=True, metric_name=FAILURES_METRIC, tags={"service": service.name}
    ).order_by("pk")
    if not note:
        note = f"{failures} failed checks in a row of {service.name}"
        if error:
            note += f", last: {error}"
    for rule in rules:
        try:
            with transaction.atomic():
                rule_evaluate_value(rule.pk, float(failures), now=at, detail=note)
        except Exception:  # the check is stored whatever the alerting makes of it
            logger.exception("monitoring: rule %s not evaluated for %s", rule.pk, service.name)


def services_down_follow(*, at: datetime) -> None:
    """Evaluate the `health.services_down` rules on the number of services down now. The
    rules are locked before counting, so two checks finishing at once apply in order."""
    try:
        with transaction.atomic():
            ids = list(
                AlertRule.objects.select_for_update()
                .filter(enabled=True, metric_name=SERVICES_DOWN_METRIC)
                .order_by("pk")
                .values_list("pk", flat=True)
            )
            if not ids:
                return
            down = list(down_services().values_list("name", "consecutive_failures", "last_error"))
            note = "down: " + ", ".join(
                f"{name} ({failures} failed checks: {error})" if error else name
                for name, failures, error in down
            )
            for rule_id in ids:
                rule_evaluate_value(rule_id, float(len(down)), now=at, detail=note)
    except Exception:
        logger.exception("monitoring: the services-down rules were not evaluated")


def check_figures_record(
    service: MonitoredService, failures: int, response_ms: float | None
) -> None:
    labels = {"service": service.name}
    record_gauge(FAILURES_METRIC, failures, labels=labels)
    if response_ms is not None:
        record_gauge(RESPONSE_TIME_METRIC, response_ms, labels=labels)


def services_down_record() -> None:
    record_gauge(SERVICES_DOWN_METRIC, services_down_now())
