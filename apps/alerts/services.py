"""Changes to rules, incidents and silences; evaluating a rule.

Every change takes the actor (`key:<name>`, `user:<name>` or `system`) and records
it. One unresolved incident per rule is the database's rule (a partial unique
constraint), and evaluation holds the rule's row lock, so two evaluators at once
(beat, `evaluate_alerts`, the admin's "evaluate now") decide one after the other.
"""

import logging
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

from .evaluation import Action, Decision, RuleView, decide
from .models import (
    UNRESOLVED,
    AlertChannel,
    AlertIncident,
    AlertRule,
    Delivery,
    IncidentEvent,
    IncidentStatus,
    NotificationEvent,
    Silence,
    TimelineKind,
)
from .notifications import delivery_send, make_deliveries
from .selectors import active_silence_for, active_silences, silence_matches

logger = logging.getLogger(__name__)


class TransitionError(Exception):
    """A change that makes no sense for the incident's status (answered 409)."""


@dataclass(frozen=True)
class Evaluation:
    rule_id: int
    rule_name: str
    value: float | None
    state: str
    action: str
    incident_id: int | None


# --- evaluation -------------------------------------------------------------------


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
    return _evaluate_locked(rule.pk, rule_value(rule, now), now)


def rules_evaluate(*, now: datetime | None = None) -> list[Evaluation]:
    """One evaluation cycle of every enabled rule (the beat task, `evaluate_alerts`).

    Rules watching the same window of the same series read it once. A rule whose
    decision opens, sends or resolves nothing (the usual case) is recorded by one
    compare-and-set statement for the whole cycle; the others, and any rule another
    evaluator moved meanwhile, go one by one under the rule's row lock. A rule that
    fails is logged and the rest go on.
    """
    now = now or timezone.now()
    rules = list(AlertRule.objects.filter(enabled=True).order_by("pk"))
    values = _values(rules, now)
    silences = list(active_silences(now))
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
            evaluation = _evaluate_locked(rule.pk, value, now)
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


def _evaluate_locked(rule_id: int, value: float | None, now: datetime) -> Evaluation | None:
    with transaction.atomic():
        rule = AlertRule.objects.select_for_update().filter(pk=rule_id, enabled=True).first()
        if rule is None:
            return None
        decision = decide(_view(rule), value, now)
        incident = None
        if decision.action == Action.FIRE:
            incident = _fire(rule, value, now)
        elif decision.action == Action.STAY_FIRING:
            incident = _still_firing(rule, value, now)
        elif decision.action == Action.RESOLVE:
            incident = _auto_resolve(rule, value, now)
        rule.state = decision.state
        rule.pending_since = decision.pending_since
        rule.last_value = value
        rule.last_evaluated_at = now
        rule.save(
            update_fields=[
                "state",
                "pending_since",
                "last_value",
                "last_evaluated_at",
                "trigger_count",
                "last_triggered_at",
            ]
        )
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


def _fire(rule: AlertRule, value: float | None, now: datetime) -> AlertIncident:
    existing = _open_incident(rule)
    if existing is not None:  # resolved by hand while the rule was still firing, say
        return existing
    previous = AlertIncident.objects.filter(rule=rule).order_by("-triggered_at", "-id").first()
    silence = active_silence_for(rule, now)
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
    _event(incident, kind, now, "system", detail)
    if silence:
        _event(incident, TimelineKind.SILENCED, now, silence.created_by, _silence_note(silence))
    else:
        make_deliveries(incident, rule, list(rule.channels.all()), event="firing", now=now)
    rule.trigger_count += 1
    rule.last_triggered_at = now
    return incident


def _still_firing(rule: AlertRule, value: float | None, now: datetime) -> AlertIncident | None:
    incident = _open_incident(rule)
    if incident is None:  # resolved by hand: a new one opens once it fires again
        return None
    incident.last_value = value
    silence = active_silence_for(rule, now)
    fields = ["last_value"]
    if incident.status == IncidentStatus.SILENCED and silence is None:
        incident.status = IncidentStatus.OPEN
        _event(incident, TimelineKind.UNSILENCED, now, "system", "no silence matches any more")
        _notify(incident, rule, "firing", now)
        fields += ["status", "last_notified_at"]
    elif incident.status == IncidentStatus.OPEN and silence is not None:
        incident.status = IncidentStatus.SILENCED
        _event(incident, TimelineKind.SILENCED, now, silence.created_by, _silence_note(silence))
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


def _auto_resolve(rule: AlertRule, value: float | None, now: datetime) -> AlertIncident | None:
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
    _event(incident, TimelineKind.RESOLVED, now, "system", f"condition cleared: value {value}")
    if not was_silenced:
        channels = list(rule.channels.all())
        make_deliveries(incident, rule, channels, event=NotificationEvent.RESOLVED, now=now)
    return incident


def _event(incident: AlertIncident, kind: str, at: datetime, actor: str, detail: str = "") -> None:
    IncidentEvent.objects.create(incident=incident, kind=kind, at=at, actor=actor, detail=detail)


def _silence_note(silence: Silence) -> str:
    note = f"silence #{silence.pk} until {silence.ends_at.isoformat()}"
    return f"{note}: {silence.comment}" if silence.comment else note


# --- triage ------------------------------------------------------------------------


def incident_acknowledge(*, incident_id: int, actor: str) -> AlertIncident:
    """Stop the repeats; a resolved incident cannot be acknowledged (TransitionError)."""
    with transaction.atomic():
        incident = AlertIncident.objects.select_for_update().get(pk=incident_id)
        if incident.status == IncidentStatus.RESOLVED:
            raise TransitionError("A resolved incident cannot be acknowledged.")
        if incident.status == IncidentStatus.ACKNOWLEDGED:
            return incident
        now = timezone.now()
        incident.status = IncidentStatus.ACKNOWLEDGED
        incident.acknowledged_by = actor
        incident.acknowledged_at = now
        incident.save(update_fields=["status", "acknowledged_by", "acknowledged_at"])
        _event(incident, TimelineKind.ACKNOWLEDGED, now, actor)
    return incident


def incident_resolve(*, incident_id: int, actor: str, note: str = "") -> AlertIncident:
    """Resolve by hand; the rule starts over, so if its condition still holds a new
    incident opens at a later evaluation (linked to this one)."""
    with transaction.atomic():
        incident = AlertIncident.objects.select_for_update().get(pk=incident_id)
        if incident.status == IncidentStatus.RESOLVED:
            raise TransitionError("The incident is already resolved.")
        now = timezone.now()
        incident.status = IncidentStatus.RESOLVED
        incident.resolved_by = actor
        incident.resolved_at = now
        incident.resolution_notes = note
        incident.save(update_fields=["status", "resolved_by", "resolved_at", "resolution_notes"])
        _event(incident, TimelineKind.RESOLVED, now, actor, note)
        if incident.rule_id is not None:
            AlertRule.objects.filter(pk=incident.rule_id).update(
                state="inactive", pending_since=None
            )
    return incident


def incident_silence(
    *, incident_id: int, actor: str, duration: timedelta, comment: str = ""
) -> Silence:
    """A silence for the incident's rule from now for `duration`; the incident is silenced."""
    with transaction.atomic():
        incident = AlertIncident.objects.select_for_update().get(pk=incident_id)
        if incident.status == IncidentStatus.RESOLVED:
            raise TransitionError("A resolved incident cannot be silenced.")
        now = timezone.now()
        silence = silence_create(
            matchers={"rule_name": incident.rule_name},
            starts_at=now,
            ends_at=now + duration,
            comment=comment or f"silenced from incident #{incident.pk}",
            actor=actor,
        )
        if incident.status == IncidentStatus.OPEN:
            incident.status = IncidentStatus.SILENCED
            incident.save(update_fields=["status"])
        _event(incident, TimelineKind.SILENCED, now, actor, _silence_note(silence))
    return silence


# --- silences ---------------------------------------------------------------------


def silence_create(
    *, matchers: dict, starts_at: datetime, ends_at: datetime, comment: str, actor: str
) -> Silence:
    return Silence.objects.create(
        matchers=matchers, starts_at=starts_at, ends_at=ends_at, comment=comment, created_by=actor
    )


def silence_expire(*, silence: Silence, actor: str) -> Silence:
    """End it now (kept for the record); incidents it held are unsilenced at the next
    evaluation and, if still firing, notified."""
    now = timezone.now()
    if silence.ends_at > now:
        silence.ends_at = max(now, silence.starts_at + timedelta(microseconds=1))
        silence.comment = f"{silence.comment} (expired by {actor})".strip()
        silence.save(update_fields=["ends_at", "comment"])
    return silence


# --- rules and channels -------------------------------------------------------------


def rule_create(*, data: dict, actor: str) -> AlertRule:
    channels = data.pop("channels", [])
    with transaction.atomic():
        rule = AlertRule.objects.create(**data, created_by=actor, updated_by=actor)
        rule.channels.set(channels)
    return rule


def rule_update(*, rule: AlertRule, data: dict, actor: str) -> AlertRule:
    """Change a rule; a change to what it watches starts its evaluation over."""
    channels = data.pop("channels", None)
    watched = ("metric_name", "tags", "aggregation", "window_seconds", "condition_operator")
    restart = any(field in data and data[field] != getattr(rule, field) for field in watched)
    with transaction.atomic():
        for field, value in data.items():
            setattr(rule, field, value)
        rule.updated_by = actor
        if restart and rule.state == "pending":
            rule.state, rule.pending_since = "inactive", None
        rule.save()
        if channels is not None:
            rule.channels.set(channels)
    return rule


def rule_delete(*, rule: AlertRule, actor: str) -> None:
    """Delete it; its incidents stay (with the rule's name), unresolved ones resolved."""
    now = timezone.now()
    with transaction.atomic():
        for incident in AlertIncident.objects.select_for_update().filter(
            rule=rule, status__in=UNRESOLVED
        ):
            incident.status = IncidentStatus.RESOLVED
            incident.resolved_by = actor
            incident.resolved_at = now
            incident.resolution_notes = "the rule was deleted"
            incident.save()
            _event(incident, TimelineKind.RESOLVED, now, actor, "the rule was deleted")
        rule.delete()


def channel_create(*, data: dict, actor: str) -> AlertChannel:
    return AlertChannel.objects.create(**data, created_by=actor)


def channel_update(*, channel: AlertChannel, data: dict) -> AlertChannel:
    for field, value in data.items():
        setattr(channel, field, value)
    channel.save()
    return channel


def channel_test(*, channel: AlertChannel) -> Delivery:
    """Send a test notification now, once, and return it with its attempt."""
    with transaction.atomic():
        [delivery] = make_deliveries(None, None, [channel], event=NotificationEvent.TEST)
    delivery_send(str(delivery.pk))
    delivery.refresh_from_db()
    return delivery
