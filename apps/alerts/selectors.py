"""Reads of rules, incidents and silences."""

from datetime import datetime

from django.db.models import Count, Prefetch, QuerySet
from django.utils import timezone

from .models import (
    UNRESOLVED,
    AlertIncident,
    AlertRule,
    ConfigChange,
    Delivery,
    DeliveryAttempt,
    IncidentEvent,
    Silence,
)


def silence_matches(silence: Silence, rule: AlertRule) -> bool:
    """Every matcher the silence names holds for the rule (an empty silence matches all)."""
    matchers = silence.matchers or {}
    if "rule_name" in matchers and matchers["rule_name"] != rule.name:
        return False
    if "severity" in matchers and matchers["severity"] != rule.severity:
        return False
    tags = matchers.get("tags") or {}
    return all(rule.tags.get(key) == value for key, value in tags.items())


def active_silences(now: datetime | None = None) -> QuerySet[Silence]:
    now = now or timezone.now()
    return Silence.objects.filter(starts_at__lte=now, ends_at__gt=now)


def active_silence_for(rule: AlertRule, now: datetime) -> Silence | None:
    for silence in active_silences(now).order_by("-ends_at"):
        if silence_matches(silence, rule):
            return silence
    return None


def silence_list(*, include_expired: bool = False) -> QuerySet[Silence]:
    if include_expired:
        return Silence.objects.all()
    return Silence.objects.filter(ends_at__gt=timezone.now())


def rule_list() -> QuerySet[AlertRule]:
    return AlertRule.objects.prefetch_related("channels")


def incident_list(
    *,
    status: list[str] | None = None,
    severity: list[str] | None = None,
    rule: int | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> QuerySet[AlertIncident]:
    """Open and acknowledged incidents by default, newest first."""
    incidents = AlertIncident.objects.all()
    statuses = status or ["open", "acknowledged"]
    incidents = incidents.filter(status__in=statuses)
    if severity:
        incidents = incidents.filter(severity__in=severity)
    if rule is not None:
        incidents = incidents.filter(rule_id=rule)
    if since is not None:
        incidents = incidents.filter(triggered_at__gte=since)
    if until is not None:
        incidents = incidents.filter(triggered_at__lt=until)
    return incidents


def incidents_with_history() -> QuerySet[AlertIncident]:
    """Incidents with their timelines and their deliveries' attempt logs."""
    return AlertIncident.objects.prefetch_related(
        Prefetch("timeline", queryset=IncidentEvent.objects.order_by("at", "id")),
        Prefetch(
            "deliveries",
            queryset=Delivery.objects.order_by("created_at").prefetch_related(
                Prefetch("attempt_log", queryset=DeliveryAttempt.objects.order_by("at", "id"))
            ),
        ),
    )


def alerting_figures() -> dict:
    """Counts for /metrics: unresolved incidents by status and severity, rules by state,
    deliveries still pending, being sent or given up."""
    incidents = (
        AlertIncident.objects.filter(status__in=UNRESOLVED)
        .values_list("status", "severity")
        .annotate(n=Count("id"))
    )
    rules = AlertRule.objects.filter(enabled=True).values_list("state").annotate(n=Count("id"))
    deliveries = (
        Delivery.objects.filter(status__in=("pending", "sending", "failed"))
        .values_list("status")
        .annotate(n=Count("id"))
    )
    return {
        "incidents": {(status, severity): n for status, severity, n in incidents},
        "rules": dict(rules),
        "deliveries": dict(deliveries),
    }


def open_incident_counts() -> dict[str, int]:
    """Unresolved incidents per severity (only the severities that have some)."""
    rows = (
        AlertIncident.objects.filter(status__in=UNRESOLVED)
        .values_list("severity")
        .annotate(n=Count("id"))
    )
    return dict(rows)


def config_changes(
    *, object_type: str | None = None, object_id: int | None = None
) -> QuerySet[ConfigChange]:
    changes = ConfigChange.objects.all()
    if object_type is not None:
        changes = changes.filter(object_type=object_type)
    if object_id is not None:
        changes = changes.filter(object_id=object_id)
    return changes


def rule_named(name: str) -> AlertRule | None:
    return AlertRule.objects.filter(name=name).first()
