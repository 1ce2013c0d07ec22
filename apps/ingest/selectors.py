"""Reads of the write pipeline's own state, for /metrics and the admin."""

from dataclasses import dataclass

from django.db.models import Count, Sum
from django.utils import timezone

from apps.core.redis import get_redis

from .counters import counts_key
from .models import OutboxBatch


def ingest_counts() -> dict[tuple[str, str], int]:
    """{(kind, "accepted" | "rejected" | "duplicate"): items} since Redis last started."""
    counts = {}
    for field, value in get_redis().hgetall(counts_key()).items():
        kind, _, outcome = field.decode().rpartition(":")
        counts[(kind, outcome)] = int(value)
    return counts


def items_outcome_totals() -> dict[str, int]:
    """{"accepted" | "rejected" | "duplicate": items} over every kind, since Redis started."""
    totals: dict[str, int] = {}
    for (_kind, outcome), n in ingest_counts().items():
        totals[outcome] = totals.get(outcome, 0) + n
    return totals


@dataclass(frozen=True)
class OutboxBacklog:
    batches: int  # waiting for their task
    items: int
    failed: int  # refused by the database, parked for triage


def outbox_backlog() -> OutboxBacklog:
    row = OutboxBatch.objects.aggregate(
        batches=Count("id"), items=Sum("item_count"), failed=Count("failed_at")
    )
    return OutboxBacklog(row["batches"], row["items"] or 0, row["failed"])


def outbox_oldest_age_seconds() -> float | None:
    """How long the oldest batch still waiting for its task has waited; None if none."""
    oldest = (
        OutboxBatch.objects.filter(failed_at__isnull=True)
        .order_by("created_at")
        .values_list("created_at", flat=True)
        .first()
    )
    return None if oldest is None else (timezone.now() - oldest).total_seconds()
