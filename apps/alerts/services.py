"""Changes to rules, channels, silences and incidents, as staff and clients make them.

Every change takes the actor (`key:<name>`, `user:<name>` or `system`) and records
it; evaluating rules is `evaluation.py`.
"""

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from apps.core.secrets import mask_credentials
from apps.ingest.privacy import scrub_text

from . import evaluation, timeline
from .evaluation import Evaluation
from .models import (
    UNRESOLVED,
    AlertChannel,
    AlertIncident,
    AlertRule,
    ConfigChange,
    Delivery,
    DeliveryAttempt,
    DeliveryStatus,
    IncidentEvent,
    IncidentStatus,
    NotificationEvent,
    Silence,
    TimelineKind,
)
from .notifications import delivery_send, make_deliveries
from .senders import check_target

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
        note = scrub_text(note)
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
    """Create a silence; secrets in its comment are redacted before it is stored."""
    comment = scrub_text(comment)
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


def silence_update(*, silence: Silence, data: dict, actor: str) -> Silence:
    """Change a silence's matchers, times or comment (the admin's form); secrets in the
    comment are redacted."""
    data = _scrubbed(data)
    with transaction.atomic():
        for field, value in data.items():
            setattr(silence, field, value)
        silence.save(update_fields=list(data))
        config_change_record(actor, "changed", silence, data)
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

# A change to one of these starts a pending rule's wait over: it watches something else.
RESTARTING_FIELDS = ("metric_name", "tags", "aggregation", "window_seconds", "condition_operator")


class RuleDisabledError(TransitionError):
    """The rule is disabled: it is not evaluated (answered 409)."""


def default_channels() -> list[AlertChannel]:
    """The channels named in ALERTS_DEFAULT_CHANNELS that exist: built-in rules get them."""
    names = settings.ALERTS_DEFAULT_CHANNELS
    return list(AlertChannel.objects.filter(name__in=names)) if names else []


def rule_create(*, data: dict, actor: str) -> AlertRule:
    """Create a rule (and its line in the trail). A built-in one (`builtin=True`) without
    channels gets the default channels (ALERTS_DEFAULT_CHANNELS) that exist."""
    data = _scrubbed(data)
    channels = list(data.pop("channels", []))
    if data.get("builtin") and not channels:
        channels = default_channels()
    with transaction.atomic():
        rule = AlertRule.objects.create(**data, created_by=actor, updated_by=actor)
        rule.channels.set(channels)
        config_change_record(actor, "created", rule, {**data, "channels": channels})
    return rule


def rule_update(*, rule: AlertRule, data: dict, actor: str) -> AlertRule:
    """Change a rule, under its row lock (the evaluator's state fields are left as they
    are); a change to what it watches starts a pending rule over. Returns the rule."""
    data = _scrubbed(data)
    channels = data.pop("channels", None)
    with transaction.atomic():
        current = AlertRule.objects.select_for_update().get(pk=rule.pk)
        restart = any(
            field in data and data[field] != getattr(current, field) for field in RESTARTING_FIELDS
        )
        for field, value in data.items():
            setattr(current, field, value)
        current.updated_by = actor
        fields = [*data, "updated_by", "updated_at"]
        if restart and current.state == "pending":
            current.state, current.pending_since = "inactive", None
            fields += ["state", "pending_since"]
        current.save(update_fields=fields)
        if channels is not None:
            channels = list(channels)
            current.channels.set(channels)
            data["channels"] = channels
        config_change_record(actor, "changed", current, data)
    return current


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


def rule_evaluate_now(*, rule: AlertRule) -> Evaluation:
    """Evaluate an enabled rule now ("evaluate now" in the API and the admin); a
    disabled one raises RuleDisabledError."""
    result = evaluation.rule_evaluate(rule.pk) if rule.enabled else None
    if result is None:  # disabled, here or meanwhile
        raise RuleDisabledError("The rule is disabled; enable it to evaluate it.")
    return result


def channel_create(*, data: dict, actor: str) -> AlertChannel:
    """Create a channel; its target must pass the target check (SSRF guard) or
    ValueError. One named in ALERTS_DEFAULT_CHANNELS is added to every built-in rule."""
    data = dict(data)
    check_target(data.get("type", ""), data.get("target", ""))
    with transaction.atomic():
        channel = AlertChannel.objects.create(**data, created_by=actor)
        config_change_record(actor, "created", channel, data)
        if channel.name in settings.ALERTS_DEFAULT_CHANNELS:
            # In pk order, as the evaluator locks them; their channels in one query.
            rules = (
                AlertRule.objects.filter(builtin=True)
                .exclude(channels=channel)
                .order_by("pk")
                .prefetch_related("channels")
            )
            for rule in rules:
                channels = [*rule.channels.all(), channel]
                rule_update(rule=rule, data={"channels": channels}, actor=actor)
    return channel


def channel_update(*, channel: AlertChannel, data: dict, actor: str) -> AlertChannel:
    """Change a channel; the target check (SSRF guard) applies to the result."""
    data = dict(data)
    check_target(data.get("type", channel.type), data.get("target", channel.target))
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


# --- retention ----------------------------------------------------------------------


def history_purge(*, now: datetime | None = None, batch_size: int | None = None) -> dict:
    """Delete what grows with every notification once it is past ALERTS_RETENTION_DAYS:
    the deliveries (and their attempts) and the timeline lines of incidents resolved
    before the cutoff, and test deliveries made before it; at most `batch_size`
    (PURGE_BATCH_SIZE) deliveries or lines per transaction. The incidents themselves
    are kept (one row per problem: what fired, when, who resolved it), and so is the
    configuration trail (one line per human change). Returns {table: rows deleted}.
    """
    now = now or timezone.now()
    cutoff = now - timedelta(days=settings.ALERTS_RETENTION_DAYS)
    size = batch_size or settings.PURGE_BATCH_SIZE
    old = AlertIncident.objects.filter(status=IncidentStatus.RESOLVED, resolved_at__lt=cutoff)
    deliveries = Delivery.objects.filter(
        Q(incident__in=old) | Q(incident__isnull=True, created_at__lt=cutoff)
    ).exclude(status__in=(DeliveryStatus.PENDING, DeliveryStatus.SENDING))
    events = IncidentEvent.objects.filter(incident__in=old)
    deleted = {"deliveries": 0, "delivery_attempts": 0, "incident_events": 0}
    while True:
        with transaction.atomic():
            ids = list(deliveries.values_list("pk", flat=True)[:size])
            if not ids:
                break
            # One DELETE of the batch's attempts, one of the batch (bodies not read).
            _, per_model = Delivery.objects.filter(pk__in=ids).only("pk").delete()
            deleted["deliveries"] += per_model.get(Delivery._meta.label, 0)
            deleted["delivery_attempts"] += per_model.get(DeliveryAttempt._meta.label, 0)
    while True:
        with transaction.atomic():
            ids = list(events.values_list("pk", flat=True)[:size])
            if not ids:
                break
            deleted["incident_events"] += IncidentEvent.objects.filter(pk__in=ids).delete()[0]
    return deleted


def retention_purge(*, now: datetime) -> dict[str, tuple[int, datetime]]:
    """This app's part of the daily purge (registered with the ingest retention)."""
    cutoff = now - timedelta(days=settings.ALERTS_RETENTION_DAYS)
    return {f"alerts:{table}": (n, cutoff) for table, n in history_purge(now=now).items()}


# Free text a person writes (a rule's description, a silence's comment): a pasted URL or
# header keeps its words, never its credentials (the ingest kinds' scrubber).
_FREE_TEXT = ("description", "comment")


def _scrubbed(data: dict) -> dict:
    """A copy of `data` with the secrets in its free text redacted."""
    data = dict(data)
    for field in _FREE_TEXT:
        if isinstance(data.get(field), str):
            data[field] = scrub_text(data[field])
    return data


# Never written to the trail: a secret stays where it is needed only.
_UNAUDITED = {"secret"}
# Written masked: the trail is read by read keys, and the target's credentials are
# kept (encrypted) on the channel only.
_MASKED = {"target"}


def config_change_record(actor: str, action: str, target, data: dict | None = None) -> None:
    """One line of the configuration trail (ConfigChange); the API's services and the
    admin's saves both write it."""
    kind = {AlertRule: "rule", AlertChannel: "channel", Silence: "silence"}[type(target)]
    changes = {}
    for field, value in (data or {}).items():
        if field in _UNAUDITED:
            changes[field] = "(set)" if value else "(cleared)"
        elif field in _MASKED:
            changes[field] = mask_credentials(value)
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
