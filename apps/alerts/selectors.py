"""Reads of rules, incidents and silences."""

from datetime import datetime, timedelta
from urllib.parse import urlencode

from django.db.models import Count, Prefetch, QuerySet
from django.urls import reverse
from django.utils import timezone

from apps.core.windows import Interval, parse_interval
from apps.metrics.selectors import NotComputableError, metric_names, metric_time_series

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


def unresolved_incidents_tagged(*, tag: str, values: list[str]) -> QuerySet[AlertIncident]:
    """Unresolved incidents of the rules whose tag `tag` is one of `values` (a monitored
    service's rules carry `{"service": name}`), oldest first, with their rule and their
    timeline (oldest first) fetched: three queries, however many incidents. Details,
    actors and rule names are the staff's: a public page picks what it shows."""
    return (
        AlertIncident.objects.filter(status__in=UNRESOLVED, rule__isnull=False)
        .filter(**{f"rule__tags__{tag}__in": values})
        .select_related("rule")
        .prefetch_related(Prefetch("timeline", queryset=IncidentEvent.objects.order_by("at", "id")))
        .order_by("triggered_at", "id")
    )


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


# --- an incident's chart (the incident page in the admin) ---------------------------

# Bucket widths the chart picks from: the finest giving at most CHART_MAX_POINTS, so a
# window of 2.5 h or more has 100-300 points (a shorter one fewer: 1 minute is the finest).
CHART_STEPS_MINUTES = (1, 2, 5, 10, 15, 30, 60, 120, 180, 360, 720, 1440, 2880, 10080)
CHART_MAX_POINTS = 300
# The timeline's moments marked on the chart; notifications are left out (they crowd it).
CHART_MARKS = {
    "fired": "firing",
    "refired": "firing",
    "acknowledged": "acknowledged",
    "silenced": "silenced",
    "unsilenced": "unsilenced",
    "resolved": "resolved",
}
# A metric's unit when none of its series gave one, from how its name ends.
_UNIT_SUFFIXES = (("_percent", "%"), ("_ms", "ms"), ("_seconds", "s"), ("_bytes", "B"))


def incident_chart(*, incident: AlertIncident, now: datetime | None = None) -> dict:
    """The rule's metric around an incident, as the incident page draws it.

    The window runs from max(15 min, 2x the rule's window, its pending wait + window)
    before the trigger to now, or to the resolution plus as much (never past now). The
    buckets are the metrics' own time series (metric_time_series: the rule's tags, its
    aggregation as `agg`, empty buckets null), so the chart and GET `api` agree on every
    bucket; a count, sum or rate is scaled to the rule's window (`scale`, said in
    `note`) so the thresholds apply. `marks`: the pending moment (the rule's wait before
    the trigger) and the timeline's firing, acknowledged, silenced and resolved moments.
    `available` is False, with `reason`, when there is nothing to draw from."""
    now = now or timezone.now()
    rule = incident.rule
    answer: dict = {
        "incident": incident.pk,
        "available": False,
        "threshold": incident.threshold,
        "operator": incident.get_condition_operator_display(),
        "resolve_threshold": rule.resolve_threshold if rule else None,
        "marks": _chart_marks(incident, rule),
    }
    if rule is None:
        answer["reason"] = (
            "The rule of this incident was deleted, so what it watched is not known any "
            "more: there is no chart. The timeline below says what happened."
        )
        return answer
    margin = max(
        timedelta(minutes=15),
        timedelta(seconds=2 * rule.window_seconds),
        timedelta(seconds=rule.duration_seconds + rule.window_seconds),
    )
    start = incident.triggered_at - margin
    end = now if incident.resolved_at is None else min(now, incident.resolved_at + margin)
    interval = _chart_interval(max(end - start, timedelta(minutes=1)))
    start = interval.bucket_of(start)
    end = max(end, start + interval.step)
    agg, scale, unit, note = _chart_measure(rule, interval, _metric_unit(rule.metric_name))
    tags = rule.tags if isinstance(rule.tags, dict) else {}
    try:
        series = metric_time_series(
            name=rule.metric_name,
            interval=interval,
            agg=agg,
            tags=tags,
            since=start,
            until=end,
            fill="null",
        )
    except NotComputableError as exc:
        answer["reason"] = f"The metric's points in this window cannot be aggregated: {exc}"
        return answer
    query = [("from", start.isoformat()), ("to", end.isoformat())]
    query += [("interval", interval.text), ("agg", agg), ("fill", "null")]
    query += [("tag", f"{key}:{value}") for key, value in sorted(tags.items())]
    tag_text = ", ".join(f"{key}={value}" for key, value in sorted(tags.items()))
    answer.update(
        available=True,
        metric_name=rule.metric_name,
        tags=tags,
        label=f"{rule.aggregation}({rule.metric_name}{'{' + tag_text + '}' if tag_text else ''})",
        aggregation=rule.aggregation,
        window_seconds=rule.window_seconds,
        agg=agg,
        interval=interval.text,
        since=start,
        until=end,
        unit=unit,
        scale=scale,
        note=note,
        samples=sum(bucket["count"] for bucket in series["buckets"]),
        points=[
            [
                int(bucket["start"].timestamp()),
                None if bucket["value"] is None else bucket["value"] * scale,
            ]
            for bucket in series["buckets"]
        ],
        api=f"{reverse('metric-time-series', args=[rule.metric_name])}?{urlencode(query)}",
        measured_elsewhere=_measured_elsewhere(rule),
    )
    return answer


def _chart_interval(length: timedelta) -> Interval:
    minutes = next(
        (m for m in CHART_STEPS_MINUTES if length / timedelta(minutes=m) <= CHART_MAX_POINTS),
        CHART_STEPS_MINUTES[-1],
    )
    if minutes % 1440 == 0:
        return parse_interval(f"{minutes // 1440}d")
    if minutes % 60 == 0:
        return parse_interval(f"{minutes // 60}h")
    return parse_interval(f"{minutes}m")


def _chart_measure(rule: AlertRule, interval: Interval, unit: str) -> tuple[str, float, str, str]:
    """(agg for metric_time_series, factor on each bucket's value, unit, a note saying
    how the values compare with the rule's)."""
    window = rule.window_seconds
    step = interval.step.total_seconds()
    if rule.aggregation == "rate":
        note = f"rate: each {interval.text} bucket's sum divided by its {step:g} s"
        return "sum", 1 / step, f"{unit}/s" if unit else "/s", note
    if rule.aggregation in ("count", "sum") and step != window:
        note = (
            f"{rule.aggregation} per {window} s (the rule's window): each {interval.text} "
            f"bucket's {rule.aggregation} x {window / step:g}"
        )
        return rule.aggregation, window / step, "" if rule.aggregation == "count" else unit, note
    note = f"{rule.aggregation} of each {interval.text} bucket (the rule reads it over {window} s)"
    return rule.aggregation, 1.0, "" if rule.aggregation == "count" else unit, note


def _metric_unit(name: str) -> str:
    listed = metric_names(search=name, limit=1000)["metrics"]
    unit = next((m["unit"] for m in listed if m["name"] == name), "") or ""
    return unit or next((u for suffix, u in _UNIT_SUFFIXES if name.endswith(suffix)), "")


def _measured_elsewhere(rule: AlertRule) -> bool:
    # Imported here: evaluation imports this module.
    from .evaluation import _measured_elsewhere as measured

    return measured(rule) is not None


def _chart_marks(incident: AlertIncident, rule: AlertRule | None) -> list[dict]:
    marks = []
    if rule is not None and rule.duration_seconds:
        at = incident.triggered_at - timedelta(seconds=rule.duration_seconds)
        detail = f"the condition held {rule.duration_seconds} s (the rule's wait) before firing"
        marks.append(
            {"kind": "pending", "label": "pending", "at": at, "actor": "", "detail": detail}
        )
    events = incident.timeline.filter(kind__in=list(CHART_MARKS)).order_by("at", "id")
    for event in events:
        marks.append(
            {
                "kind": event.kind,
                "label": CHART_MARKS[event.kind],
                "at": event.at,
                "actor": event.actor,
                "detail": event.detail,
            }
        )
    return marks
