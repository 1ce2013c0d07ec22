"""Changes to rules, channels, silences and incidents, as staff and clients make them.

Every change takes the actor (`key:<name>`, `user:<name>` or `system`) and records
it; evaluating rules is `evaluation.py`.
"""

import logging
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from . import timeline
from .models import (
    UNRESOLVED,
    AlertChannel,
    AlertIncident,
    AlertRule,
    ConfigChange,
    Delivery,
    IncidentStatus,
    NotificationEvent,
    Silence,
    TimelineKind,
)
from .notifications import delivery_send, make_deliveries

logger = logging.getLogger(__name__)


class TransitionError(Exception):
    """A change that makes no sense for the incident's status (answered 409)."""


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
        timeline.record(incident, TimelineKind.ACKNOWLEDGED, now, actor)
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
        timeline.record(incident, TimelineKind.RESOLVED, now, actor, note)
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
        timeline.record(incident, TimelineKind.SILENCED, now, actor, timeline.silence_note(silence))
    return silence


# --- silences ---------------------------------------------------------------------


def silence_create(
    *, matchers: dict, starts_at: datetime, ends_at: datetime, comment: str, actor: str
) -> Silence:
    with transaction.atomic():
        silence = Silence.objects.create(
            matchers=matchers,
            starts_at=starts_at,
            ends_at=ends_at,
            comment=comment,
            created_by=actor,
        )
        config_change_record(
            actor,
            "created",
            silence,
            {"matchers": matchers, "starts_at": starts_at, "ends_at": ends_at, "comment": comment},
        )
    return silence


def silence_expire(*, silence: Silence, actor: str) -> Silence:
    """End it now (kept for the record); incidents it held are unsilenced at the next
    evaluation and, if still firing, notified."""
    now = timezone.now()
    if silence.ends_at > now:
        silence.ends_at = max(now, silence.starts_at + timedelta(microseconds=1))
        silence.comment = f"{silence.comment} (expired by {actor})".strip()
        silence.save(update_fields=["ends_at", "comment"])
        config_change_record(actor, "expired", silence, {"ends_at": silence.ends_at})
    return silence


# --- rules and channels -------------------------------------------------------------


def rule_create(*, data: dict, actor: str) -> AlertRule:
    channels = data.pop("channels", [])
    with transaction.atomic():
        rule = AlertRule.objects.create(**data, created_by=actor, updated_by=actor)
        rule.channels.set(channels)
        config_change_record(actor, "created", rule, {**data, "channels": channels})
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
            data["channels"] = channels
        config_change_record(actor, "changed", rule, data)
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
            timeline.record(incident, TimelineKind.RESOLVED, now, actor, "the rule was deleted")
        config_change_record(actor, "deleted", rule)
        rule.delete()


def channel_create(*, data: dict, actor: str) -> AlertChannel:
    with transaction.atomic():
        channel = AlertChannel.objects.create(**data, created_by=actor)
        config_change_record(actor, "created", channel, data)
    return channel


def channel_update(*, channel: AlertChannel, data: dict, actor: str) -> AlertChannel:
    with transaction.atomic():
        for field, value in data.items():
            setattr(channel, field, value)
        channel.save()
        config_change_record(actor, "changed", channel, data)
    return channel


def channel_delete(*, channel: AlertChannel, actor: str) -> None:
    with transaction.atomic():
        config_change_record(actor, "deleted", channel)
        channel.delete()


def channel_test(*, channel: AlertChannel, actor: str) -> Delivery:
    """Send a test notification now, once, and return it with its attempt."""
    with transaction.atomic():
        config_change_record(actor, "tested", channel)
        [delivery] = make_deliveries(None, None, [channel], event=NotificationEvent.TEST)
    delivery_send(str(delivery.pk))
    delivery.refresh_from_db()
    return delivery


# Never written to the trail: a secret stays where it is needed only.
_UNAUDITED = {"secret"}


def config_change_record(actor: str, action: str, target, data: dict | None = None) -> None:
    """One line of the configuration trail (ConfigChange); the API's services and the
    admin's saves both write it."""
    kind = {AlertRule: "rule", AlertChannel: "channel", Silence: "silence"}[type(target)]
    changes = {}
    for field, value in (data or {}).items():
        if field in _UNAUDITED:
            changes[field] = "(set)" if value else "(cleared)"
        elif field == "channels":
            changes[field] = sorted(channel.name for channel in value)
        else:
            changes[field] = value.isoformat() if hasattr(value, "isoformat") else value
    ConfigChange.objects.create(
        actor=actor,
        action=action,
        object_type=kind,
        object_id=target.pk,
        object_name=getattr(target, "name", "") or f"#{target.pk}",
        changes=changes,
    )
