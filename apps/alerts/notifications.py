"""Notifications: made in the transaction that changes an incident, sent by a task.

A Delivery row holds the exact body, so every retry sends the same bytes under the
same delivery id; a unique constraint lets each (incident, channel, event, sequence)
be made once, whoever evaluates. The webhook body is versioned (WEBHOOK_VERSION) and
documented in docs/alerts.md.
"""

import logging
import uuid
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
    NotificationEvent,
    TimelineKind,
)
from .serializers import IncidentOut, RuleRefOut

logger = logging.getLogger(__name__)

WEBHOOK_VERSION = "1"


def rule_document(rule: AlertRule | None, incident: AlertIncident | None) -> dict:
    """The rule as notifications carry it, always with every field of RuleRefOut: a
    deleted rule as its incident remembers it, a test's (no rule) with nulls."""
    if rule is not None:
        return dict(RuleRefOut(rule).data)
    document = dict.fromkeys(RuleRefOut.Meta.fields)
    document.update(name="", tags={})
    if incident is not None:
        document.update(
            name=incident.rule_name,
            condition_operator=incident.condition_operator,
            threshold=incident.threshold,
            severity=incident.severity,
        )
    return document


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


# Answers that will not change if the same request is sent again: the URL is gone or
# wrong (404, 405, 410; 301, 302 and 303, redirects a POST is not sent on: the channel must
# name the final URL), the receiver refuses us (401, 403) or the body (400, 413, 422).
# 408, 425 and 429 (ask again later) and every 5xx are transient, and so are network
# errors: those are retried with backoff, but not a 307/308 to plain http from https
# (never followed: asking again gets it again). docs/alerts.md lists them.
PERMANENT_STATUSES = frozenset({301, 302, 303, 400, 401, 403, 404, 405, 410, 413, 422})
# How long past the send timeout a claim is trusted: a worker still holding it after
# that died (killed, lost its host), and the sweeper makes the delivery due again.
CLAIM_MARGIN_SECONDS = 60


# A delivery whose channel is gone has nowhere to go, however often it is tried.
CHANNEL_DELETED = "the channel was deleted"


def is_permanent(attempt: senders.Attempt) -> bool:
    """Whether sending the same request again is pointless (and so not retried)."""
    if attempt.ok:
        return False
    if (
        attempt.permanent
        or attempt.error.startswith("refused:")
        or attempt.error == CHANNEL_DELETED
    ):
        return True
    return attempt.status_code in PERMANENT_STATUSES


def claim_timeout() -> timedelta:
    """Age past which a claim is a dead worker's (the send itself is bounded by the
    delivery timeout, so a live worker is done by then)."""
    return timedelta(seconds=settings.ALERTS_DELIVERY_TIMEOUT_SECONDS + CLAIM_MARGIN_SECONDS)


def delivery_send(delivery_id: str, *, now_fn=timezone.now) -> timedelta | None:
    """One attempt at a due pending delivery; the wait before the next one, or None.

    The delivery is claimed with a conditional update (pending and due -> sending), so
    of two workers only one sends it, and no row lock is held while the request is in
    flight. The outcome is recorded only under that claim. A worker killed mid-send
    leaves it `sending`; the sweeper makes it pending again once the claim is older than
    `claim_timeout()`, and it goes again with the same body and delivery id (at least
    once). A permanent answer (PERMANENT_STATUSES, an unsafe target) is not retried.
    """
    now = now_fn()
    claim_id = uuid.uuid4()
    claimed = Delivery.objects.filter(
        pk=delivery_id, status=DeliveryStatus.PENDING, next_attempt_at__lte=now
    ).update(status=DeliveryStatus.SENDING, claimed_at=now, claim_id=claim_id)
    if not claimed:
        due = (
            Delivery.objects.filter(pk=delivery_id, status=DeliveryStatus.PENDING)
            .values_list("next_attempt_at", flat=True)
            .first()
        )
        # Not due yet: the wait; else sent, given up, or in another worker's hands.
        return due - now if due is not None and due > now else None
    delivery = Delivery.objects.select_related("channel", "incident").get(pk=delivery_id)
    attempt = _attempt(delivery)  # the network call, outside any transaction
    return _record(delivery, claim_id, attempt, now)


def _record(
    delivery: Delivery, claim_id: uuid.UUID, attempt: senders.Attempt, now: datetime
) -> timedelta | None:
    """Write the attempt's outcome, if the claim is still this worker's."""
    with transaction.atomic():
        current = (
            Delivery.objects.select_for_update(of=("self",))
            .filter(pk=delivery.pk, status=DeliveryStatus.SENDING, claim_id=claim_id)
            .first()
        )
        if current is None:
            # The sweeper took the claim back (this worker stalled past the margin):
            # the delivery goes again under a new claim, at least once.
            logger.warning("alerts: delivery %s outcome dropped, its claim expired", delivery.pk)
            return None
        DeliveryAttempt.objects.create(
            delivery=delivery,
            at=now,
            ok=attempt.ok,
            status_code=attempt.status_code,
            error=attempt.error[:2000],
            duration_ms=attempt.duration_ms,
        )
        delivery.attempts = current.attempts + 1
        delivery.claimed_at, delivery.claim_id = None, None
        wait = None
        outcome = _outcome(delivery, attempt)
        if attempt.ok:
            delivery.status = DeliveryStatus.DELIVERED
            delivery.delivered_at = now
            _timeline(delivery, TimelineKind.NOTIFIED, now, outcome)
        elif is_permanent(attempt):
            delivery.status = DeliveryStatus.FAILED
            delivery.error = f"{outcome}; a permanent answer, not retried"
            _timeline(delivery, TimelineKind.NOTIFICATION_FAILED, now, delivery.error)
        elif (
            delivery.event == NotificationEvent.TEST
            or delivery.attempts >= settings.ALERTS_DELIVERY_MAX_ATTEMPTS
        ):
            delivery.status = DeliveryStatus.FAILED
            delivery.error = f"{outcome}; gave up after {delivery.attempts} attempts"
            _timeline(delivery, TimelineKind.NOTIFICATION_FAILED, now, delivery.error)
        else:
            delivery.status = DeliveryStatus.PENDING
            wait = backoff(delivery.attempts)
            delivery.next_attempt_at = now + wait
            if delivery.attempts == 1:
                _timeline(delivery, TimelineKind.NOTIFICATION_FAILED, now, f"{outcome}; retrying")
        delivery.save(
            update_fields=[
                "attempts",
                "status",
                "delivered_at",
                "next_attempt_at",
                "claimed_at",
                "claim_id",
                "error",
            ]
        )
    return wait


def _attempt(delivery: Delivery) -> senders.Attempt:
    channel = delivery.channel
    if channel is None:
        return senders.Attempt(False, None, CHANNEL_DELETED, 0.0)
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


def deliveries_reclaim(*, now: datetime | None = None) -> int:
    """Make deliveries claimed by a worker that died mid-send pending again; how many.

    Only claims older than `claim_timeout()`: a live worker has given up on its request
    by then, so the same attempt is never sent twice at once."""
    cutoff = (now or timezone.now()) - claim_timeout()
    return Delivery.objects.filter(status=DeliveryStatus.SENDING, claimed_at__lt=cutoff).update(
        status=DeliveryStatus.PENDING, claimed_at=None, claim_id=None
    )


def deliveries_sweep(*, now: datetime | None = None) -> list[str]:
    """The sweeper (beat, every 30 s): free dead workers' claims, then queue every due
    delivery (a lost task, a dead broker, a retry). Returns the ids queued."""
    deliveries_reclaim(now=now)
    due = deliveries_due(now=now)
    enqueue(due)
    return due
