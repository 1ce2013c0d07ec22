"""Evaluating rules: read each rule's value, decide (decisions.py), apply the decision.

One unresolved incident per rule is the database's rule (a partial unique
constraint), and every change of state happens under the rule's row lock, so two
evaluators at once (beat, `evaluate_alerts`, the admin's "evaluate now") decide one
after the other and never open two incidents or send twice.
"""

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import orjson
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from apps.metrics.selectors import (
    PERCENTILE_AGGREGATIONS,
    metric_value,
    metric_window_stats,
    value_of,
)

from . import timeline
from .decisions import Action, Decision, RuleView, decide
from .models import (
    RULE_STATE_FIELDS,
    UNRESOLVED,
    AlertIncident,
    AlertRule,
    IncidentStatus,
    NotificationEvent,
    Silence,
    TimelineKind,
)
from .notifications import make_deliveries
from .selectors import active_silence_for, active_silences, silence_matches

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Evaluation:
    rule_id: int
    rule_name: str
    value: float | None
    state: str
    action: str
    incident_id: int | None


# Rules whose value another app measures and applies itself as it measures it, through
# `rule_evaluate_value` (a monitored service's checks): the cycle leaves them alone, so a
# window of late points never resolves or re-opens what the last measurement decided.
# Each entry: (is this rule yours?, its value now); registered in an AppConfig.ready.
_MEASURED_ELSEWHERE: list[
    tuple[Callable[[AlertRule], bool], Callable[[AlertRule], float | None]]
] = []


def measured_elsewhere_register(
    is_theirs: Callable[[AlertRule], bool], value_now: Callable[[AlertRule], float | None]
) -> None:
    _MEASURED_ELSEWHERE.append((is_theirs, value_now))


def _measured_elsewhere(rule: AlertRule) -> Callable[[AlertRule], float | None] | None:
    return next((value for is_theirs, value in _MEASURED_ELSEWHERE if is_theirs(rule)), None)


def rule_evaluate_value(
    rule_id: int, value: float | None, *, now: datetime | None = None, detail: str = ""
) -> Evaluation | None:
    """Evaluate one rule on a value its source has just measured (not read from a metric
    window), under the rule's row lock like the cycle: the same states, one incident per
    rule, silences and notifications. `detail` is added to the incident's fired or resolved
    line."""
    return _evaluate_locked(rule_id, value, now or timezone.now(), detail=detail)


def rule_value(rule: AlertRule, now: datetime) -> float | None:
    return metric_value(
        name=rule.metric_name,
        aggregation=rule.aggregation,
        tags=rule.tags,
        since=now - timedelta(seconds=rule.window_seconds),
        until=now,
    )


def rule_evaluate(rule_id: int, *, now: datetime | None = None) -> Evaluation | None:
    """Evaluate one rule now: read its value, then move its state."""
    rule = AlertRule.objects.filter(pk=rule_id, enabled=True).first()
    if rule is None:
        return None
    now = now or timezone.now()
    measured = _measured_elsewhere(rule)
    value = measured(rule) if measured else rule_value(rule, now)
    return _evaluate_locked(rule.pk, value, now)


def rules_evaluate(*, now: datetime | None = None) -> list[Evaluation]:
    """One evaluation cycle of every enabled rule (the beat task, `evaluate_alerts`).

    Rules watching the same window of the same series read it once. A rule whose
    decision opens, sends or resolves nothing (the usual case) is recorded by one
    compare-and-set statement for the whole cycle; the others, and any rule another
    evaluator moved meanwhile, go one by one under the rule's row lock. A rule that
    fails is logged and the rest go on.
    """
    now = now or timezone.now()
    rules = [
        rule
        for rule in AlertRule.objects.filter(enabled=True).order_by("pk")
        if _measured_elsewhere(rule) is None
    ]
    values = _values(rules, now)
    silences = list(active_silences(now).order_by("-ends_at"))
    open_incidents = {
        incident.rule_id: incident
        for incident in AlertIncident.objects.filter(
            rule__in=[r.pk for r in rules if r.state == "firing"], status__in=UNRESOLVED
        )
    }
    quiet, busy = [], []
    for rule in rules:
        if rule.pk not in values:
            continue  # its read failed (logged)
        value = values[rule.pk]
        decision = decide(_view(rule), value, now)
        if _is_quiet(rule, decision, open_incidents.get(rule.pk), silences, now):
            quiet.append((rule, value, decision))
        else:
            busy.append((rule, value))
    done = []
    recorded = _record_quiet(quiet, open_incidents, now)
    for rule, value, decision in quiet:
        if rule.pk in recorded:
            done.append(Evaluation(rule.pk, rule.name, value, rule.state, decision.action, None))
        else:
            busy.append((rule, value))
    for rule, value in busy:
        try:
            evaluation = _evaluate_locked(rule.pk, value, now, silences)
        except Exception:
            logger.exception("alerts: rule %s could not be evaluated", rule.pk)
            continue
        if evaluation is not None:
            done.append(evaluation)
    done.sort(key=lambda e: e.rule_id)
    return done


def _values(rules: list[AlertRule], now: datetime) -> dict[int, float | None]:
    """Each rule's value; rules on the same window of the same series share one read."""
    groups: dict[tuple, list[AlertRule]] = {}
    for rule in rules:
        tags = orjson.dumps(rule.tags, option=orjson.OPT_SORT_KEYS)
        groups.setdefault((rule.metric_name, tags, rule.window_seconds), []).append(rule)
    values: dict[int, float | None] = {}
    for (name, _, window), members in groups.items():
        try:
            stats = metric_window_stats(
                name=name,
                tags=members[0].tags,
                since=now - timedelta(seconds=window),
                until=now,
                percentiles=any(r.aggregation in PERCENTILE_AGGREGATIONS for r in members),
            )
        except Exception:
            logger.exception("alerts: %s over %s s could not be read", name, window)
            continue
        for rule in members:
            values[rule.pk] = value_of(stats, rule.aggregation, window)
    return values


def _is_quiet(
    rule: AlertRule,
    decision: Decision,
    incident: AlertIncident | None,
    silences: list[Silence],
    now: datetime,
) -> bool:
    """Whether this decision only updates figures (no incident, notification or state)."""
    if decision.action in (Action.NONE, Action.PENDING):
        return (decision.state, decision.pending_since) == (rule.state, rule.pending_since)
    if decision.action != Action.STAY_FIRING or incident is None:
        return False
    if incident.status == IncidentStatus.ACKNOWLEDGED:
        return True
    silenced = any(silence_matches(silence, rule) for silence in silences)
    if incident.status == IncidentStatus.SILENCED:
        return silenced
    return not silenced and not _repeat_due(incident, rule, now)


def _record_quiet(quiet: list, incidents: dict[int, AlertIncident], now: datetime) -> set[int]:
    """Last value and time of every quiet rule in one statement, each only if the rule is
    still in the state it was read in; the ids recorded."""
    if not quiet:
        return set()
    rows = [(rule.pk, value, rule.state, rule.pending_since) for rule, value, _ in quiet]
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {AlertRule._meta.db_table} AS r "
            "SET last_value = v.value, last_evaluated_at = %s "
            "FROM unnest(%s::bigint[], %s::float8[], %s::text[], %s::timestamptz[]) "
            "AS v(id, value, state, pending_since) "
            "WHERE r.id = v.id AND r.enabled AND r.state = v.state "
            "AND r.pending_since IS NOT DISTINCT FROM v.pending_since RETURNING r.id",
            [now, *(list(column) for column in zip(*rows, strict=True))],
        )
        recorded = {row[0] for row in cursor.fetchall()}
        firing = [
            (incidents[rule.pk].pk, value)
            for rule, value, _ in quiet
            if rule.pk in recorded and rule.pk in incidents
        ]
        if firing:
            cursor.execute(
                f"UPDATE {AlertIncident._meta.db_table} AS i SET last_value = v.value "
                "FROM unnest(%s::bigint[], %s::float8[]) AS v(id, value) "
                "WHERE i.id = v.id AND i.status <> 'resolved'",
                [list(column) for column in zip(*firing, strict=True)],
            )
    return recorded


def _evaluate_locked(
    rule_id: int,
    value: float | None,
    now: datetime,
    silences: list[Silence] | None = None,
    detail: str = "",
) -> Evaluation | None:
    """Decide again under the rule's row lock and apply; `silences`: the cycle's active
    ones (read once per cycle), else read here."""
    with transaction.atomic():
        rule = AlertRule.objects.select_for_update().filter(pk=rule_id, enabled=True).first()
        if rule is None:
            return None
        decision = decide(_view(rule), value, now)
        incident = None
        if decision.action == Action.FIRE:
            incident = _fire(rule, value, now, _silence_for(rule, now, silences), detail)
        elif decision.action == Action.STAY_FIRING:
            incident = _still_firing(rule, value, now, _silence_for(rule, now, silences))
        elif decision.action == Action.RESOLVE:
            incident = _auto_resolve(rule, value, now, detail)
        rule.state = decision.state
        rule.pending_since = decision.pending_since
        rule.last_value = value
        rule.last_evaluated_at = now
        rule.save(update_fields=RULE_STATE_FIELDS)
    return Evaluation(
        rule.pk, rule.name, value, rule.state, decision.action, incident.pk if incident else None
    )


def _view(rule: AlertRule) -> RuleView:
    return RuleView(
        state=rule.state,
        pending_since=rule.pending_since,
        condition_operator=rule.condition_operator,
        threshold=rule.threshold,
        resolve_threshold=rule.resolve_threshold,
        duration_seconds=rule.duration_seconds,
        no_data=rule.no_data,
    )


def _open_incident(rule: AlertRule) -> AlertIncident | None:
    return (
        AlertIncident.objects.select_for_update().filter(rule=rule, status__in=UNRESOLVED).first()
    )


def _silence_for(rule: AlertRule, now: datetime, silences: list[Silence] | None) -> Silence | None:
    if silences is None:
        return active_silence_for(rule, now)
    return next((s for s in silences if silence_matches(s, rule)), None)


def _fire(
    rule: AlertRule, value: float | None, now: datetime, silence: Silence | None, note: str = ""
) -> AlertIncident:
    existing = _open_incident(rule)
    if existing is not None:  # resolved by hand while the rule was still firing, say
        return existing
    previous = AlertIncident.objects.filter(rule=rule).order_by("-triggered_at", "-id").first()
    incident = AlertIncident(
        rule=rule,
        rule_name=rule.name,
        previous=previous,
        status=IncidentStatus.SILENCED if silence else IncidentStatus.OPEN,
        severity=rule.severity,
        metric_value=value,
        last_value=value,
        threshold=rule.threshold,
        condition_operator=rule.condition_operator,
        triggered_at=now,
        last_notified_at=None if silence else now,
    )
    try:
        with transaction.atomic():
            incident.save()
    except IntegrityError:  # another evaluator opened it between our read and insert
        return _open_incident(rule)
    kind = TimelineKind.REFIRED if incident.previous_id else TimelineKind.FIRED
    detail = (
        f"{rule.metric_name} {rule.aggregation} = {value} "
        f"({rule.condition_operator} {rule.threshold})"
    )
    if incident.previous_id:
        detail += f"; previous incident #{incident.previous_id}"
    if note:
        detail += f"; {note}"
    timeline.record(incident, kind, now, "system", detail)
    if silence:
        timeline.record(
            incident, TimelineKind.SILENCED, now, silence.created_by, timeline.silence_note(silence)
        )
    else:
        make_deliveries(incident, rule, list(rule.channels.all()), event="firing", now=now)
    rule.trigger_count += 1
    rule.last_triggered_at = now
    return incident


def _still_firing(
    rule: AlertRule, value: float | None, now: datetime, silence: Silence | None
) -> AlertIncident | None:
    incident = _open_incident(rule)
    if incident is None:  # resolved by hand: a new one opens once it fires again
        return None
    incident.last_value = value
    fields = ["last_value"]
    if incident.status == IncidentStatus.SILENCED and silence is None:
        incident.status = IncidentStatus.OPEN
        timeline.record(
            incident, TimelineKind.UNSILENCED, now, "system", "no silence matches any more"
        )
        _notify(incident, rule, "firing", now)
        fields += ["status", "last_notified_at"]
    elif incident.status == IncidentStatus.OPEN and silence is not None:
        incident.status = IncidentStatus.SILENCED
        timeline.record(
            incident, TimelineKind.SILENCED, now, silence.created_by, timeline.silence_note(silence)
        )
        fields.append("status")
    elif incident.status == IncidentStatus.OPEN and _repeat_due(incident, rule, now):
        _notify(incident, rule, "repeat", now)
        fields.append("last_notified_at")
    incident.save(update_fields=fields)
    return incident


def _repeat_due(incident: AlertIncident, rule: AlertRule, now: datetime) -> bool:
    last = incident.last_notified_at or incident.triggered_at
    return now - last >= timedelta(seconds=rule.repeat_interval_seconds)


def _notify(incident: AlertIncident, rule: AlertRule | None, event: str, now: datetime) -> None:
    sequence = incident.deliveries.filter(event=event).values("sequence").distinct().count()
    incident.last_notified_at = now
    channels = list(rule.channels.all()) if rule else []
    make_deliveries(incident, rule, channels, event=event, sequence=sequence, now=now)


def _auto_resolve(
    rule: AlertRule, value: float | None, now: datetime, detail: str = ""
) -> AlertIncident | None:
    incident = _open_incident(rule)
    if incident is None:
        return None
    was_silenced = incident.status == IncidentStatus.SILENCED
    incident.status = IncidentStatus.RESOLVED
    incident.resolved_at = now
    incident.resolved_by = "system"
    incident.auto_resolved = True
    incident.last_value = value
    incident.save()
    cleared = f"condition cleared: value {value}"
    timeline.record(
        incident,
        TimelineKind.RESOLVED,
        now,
        "system",
        f"{cleared}; {detail}" if detail else cleared,
    )
    if not was_silenced:
        channels = list(rule.channels.all())
        make_deliveries(incident, rule, channels, event=NotificationEvent.RESOLVED, now=now)
    return incident
