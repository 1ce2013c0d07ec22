"""Notifications: made in the transaction that changes an incident, sent by a task.

A Delivery row holds the exact body, so every retry sends the same bytes under the
same delivery id; a unique constraint lets each (incident, channel, event, sequence)
be made once, whoever evaluates. The webhook body is versioned (WEBHOOK_VERSION) and
documented in docs/alerts.md.
"""

import logging
from datetime import datetime, timedelta

import orjson
from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from . import senders, timeline
from .models import (
    AlertChannel,
    AlertIncident,
    AlertRule,
    Delivery,
    DeliveryAttempt,
    DeliveryStatus,
    TimelineKind,
)
from .serializers import IncidentOut, RuleRefOut

logger = logging.getLogger(__name__)

WEBHOOK_VERSION = "1"


def rule_document(rule: AlertRule | None, incident: AlertIncident | None) -> dict:
    """The rule as notifications carry it; a deleted rule as its incident remembers it."""
    if rule is not None:
        return dict(RuleRefOut(rule).data)
    return {
        "id": None,
        "name": incident.rule_name if incident else "",
        "metric_name": None,
        "condition_operator": incident.condition_operator if incident else None,
        "threshold": incident.threshold if incident else None,
        "severity": incident.severity if incident else None,
    }


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat().replace("+00:00", "Z") if moment else None


def webhook_body(
    *, delivery_id: str, event: str, incident: dict | None, rule: dict, now: datetime
) -> bytes:
    return orjson.dumps(
        {
            "version": WEBHOOK_VERSION,
            "delivery_id": delivery_id,
            "event": event,
            "incident": incident,
            "rule": rule,
            "sent_at": _iso(now),
        }
    )


def headline(document: dict) -> str:
    """`[FIRING] cpu high: system.cpu_percent avg = 97.5 (gt 90)`, for Slack and email."""
    event, incident, rule = document["event"], document["incident"], document["rule"]
    label = {"firing": "FIRING", "repeat": "STILL FIRING", "resolved": "RESOLVED"}.get(
        event, "TEST"
    )
    if incident is None:
        return f"[{label}] test notification from the analytics service"
    value = incident["last_value"] if event == "resolved" else incident["metric_value"]
    return (
        f"[{label}] {incident['rule_name']}: {rule.get('metric_name') or 'metric'} "
        f"{rule.get('aggregation', '')} = {value} "
        f"({incident['condition_operator']} {incident['threshold']}), "
        f"severity {incident['severity']}, incident #{incident['id']}"
    )


def make_deliveries(
    incident: AlertIncident | None,
    rule: AlertRule | None,
    channels: list[AlertChannel],
    *,
    event: str,
    sequence: int = 0,
    now: datetime | None = None,
) -> list[Delivery]:
    """Delivery rows for one notification to each channel, inside the caller's transaction;
    the tasks are queued once it commits. One that exists already is left as it is."""
    now = now or timezone.now()
    made = []
    incident_doc = dict(IncidentOut(incident).data) if incident else None
    rule_doc = rule_document(rule, incident)
    for channel in channels:
        delivery = Delivery(
            incident=incident,
            channel=channel,
            channel_name=channel.name,
            event=event,
            sequence=sequence,
            next_attempt_at=now,
            created_at=now,
        )
        delivery.body = webhook_body(
            delivery_id=str(delivery.id),
            event=event,
            incident=incident_doc,
            rule=rule_doc,
            now=now,
        )
        try:
            with transaction.atomic():
                delivery.save(force_insert=True)
        except IntegrityError:
            continue  # made by another evaluator: sent once, by that one
        made.append(delivery)
    ids = [str(d.id) for d in made if d.event != "test"]  # a test is sent by its caller
    if ids:
        transaction.on_commit(lambda: enqueue(ids))
    return made


def enqueue(delivery_ids: list[str]) -> None:
    """Hand deliveries to the worker; if the broker is down the sweeper does it later."""
    from .tasks import deliver

    for delivery_id in delivery_ids:
        try:
            deliver.apply_async((delivery_id,), retry=False)
        except Exception:
            logger.warning("alerts: delivery %s not queued; the sweeper will", delivery_id)


def backoff(attempts: int) -> timedelta:
    """After the n-th failed attempt: base x 2^(n-1), capped."""
    base = settings.ALERTS_DELIVERY_BACKOFF_SECONDS
    return timedelta(
        seconds=min(base * 2 ** max(attempts - 1, 0), settings.ALERTS_DELIVERY_BACKOFF_MAX_SECONDS)
    )


def delivery_send(delivery_id: str, *, now_fn=timezone.now) -> timedelta | None:
    """One attempt at a due pending delivery; the wait before the next one, or None.

    The row stays locked while the request is in flight, so two workers never send it
    at once; a worker killed mid-send leaves it pending, with its attempt unrecorded,
    and it goes again later with the same body and delivery id (at least once).
    """
    with transaction.atomic():
        delivery = (
            Delivery.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("channel")
            .filter(pk=delivery_id, status=DeliveryStatus.PENDING)
            .first()
        )
        if delivery is None:
            return None  # sent, given up, or in another worker's hands right now
        now = now_fn()
        if delivery.next_attempt_at > now:
            return delivery.next_attempt_at - now
        attempt = _attempt(delivery)
        DeliveryAttempt.objects.create(
            delivery=delivery,
            at=now,
            ok=attempt.ok,
            status_code=attempt.status_code,
            error=attempt.error[:2000],
            duration_ms=attempt.duration_ms,
        )
        delivery.attempts += 1
        wait = None
        if attempt.ok:
            delivery.status = DeliveryStatus.DELIVERED
            delivery.delivered_at = now
            _timeline(delivery, TimelineKind.NOTIFIED, now, _outcome(delivery, attempt))
        elif (
            delivery.event == "test"
            or attempt.error.startswith("refused:")  # an unsafe target stays unsafe
            or delivery.attempts >= settings.ALERTS_DELIVERY_MAX_ATTEMPTS
        ):
            delivery.status = DeliveryStatus.FAILED
            _timeline(
                delivery,
                TimelineKind.NOTIFICATION_FAILED,
                now,
                f"{_outcome(delivery, attempt)}; gave up after {delivery.attempts} attempts",
            )
        else:
            wait = backoff(delivery.attempts)
            delivery.next_attempt_at = now + wait
            if delivery.attempts == 1:
                _timeline(
                    delivery,
                    TimelineKind.NOTIFICATION_FAILED,
                    now,
                    f"{_outcome(delivery, attempt)}; retrying",
                )
        delivery.save(update_fields=["attempts", "status", "delivered_at", "next_attempt_at"])
    return wait


def _attempt(delivery: Delivery) -> senders.Attempt:
    channel = delivery.channel
    if channel is None:
        return senders.Attempt(False, None, "the channel was deleted", 0.0)
    body = bytes(delivery.body)
    document = orjson.loads(body)
    text = headline(document)
    return senders.send(
        channel_type=channel.type,
        target=channel.target,
        secret=channel.secret,
        body=body,
        delivery_id=str(delivery.id),
        message={
            "title": text,
            "text": text,
            "severity": (document["incident"] or {}).get("severity", "info"),
        },
        subject=text[:200],
        text=text + "\n\n" + orjson.dumps(document, option=orjson.OPT_INDENT_2).decode(),
    )


def _outcome(delivery: Delivery, attempt: senders.Attempt) -> str:
    if attempt.ok:
        email = delivery.channel is not None and delivery.channel.type == "email"
        result = "accepted by the mail server" if email else f"HTTP {attempt.status_code}"
    else:
        result = attempt.error or f"HTTP {attempt.status_code}"
    return f"{delivery.event} to {delivery.channel_name}: {result}"


def _timeline(delivery: Delivery, kind: str, now: datetime, detail: str) -> None:
    if delivery.incident is not None:
        timeline.record(delivery.incident, kind, now, "system", detail)


def deliveries_due(*, now: datetime | None = None, limit: int = 500) -> list[str]:
    """Pending deliveries whose time has come (their task lost, or a retry due)."""
    now = now or timezone.now()
    return [
        str(pk)
        for pk in Delivery.objects.filter(
            status=DeliveryStatus.PENDING, next_attempt_at__lte=now
        ).values_list("pk", flat=True)[:limit]
    ]
