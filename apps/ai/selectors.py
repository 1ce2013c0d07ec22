"""Reads of AI usage: time to first token, costs, knowledge freshness."""

from datetime import datetime, timedelta
from uuid import UUID

from django.db.models import Count, Min, Q, Sum
from django.db.models.expressions import RawSQL
from django.db.models.functions import TruncHour
from django.utils import timezone

from apps.metrics.selectors import metric_statistics

from .derive import TTFT
from .models import AiUsage, AiUsageHour, KnowledgeDocument
from .prices import PriceBook

HOUR = timedelta(hours=1)
# Age in days: fresh under 30, aging 30 to 90 (both included), stale over 90.
FRESHNESS = ("Fresh (<30d)", "Aging (30-90d)", "Stale (>90d)")


def ttft_percentiles(
    *, hours: int, assistant_id: UUID | None = None, now: datetime | None = None
) -> dict:
    """p50/p95/p99 of time to first token (ms) over the window; zeros when there is none.
    From the metrics engine's rollups: within 1% of the exact order statistic."""
    tags = {"assistant_id": str(assistant_id)} if assistant_id else None
    stats = metric_statistics(name=TTFT, hours=hours, tags=tags, now=now)
    return {
        "p50": stats["p50"] or 0.0,
        "p95": stats["p95"] or 0.0,
        "p99": stats["p99"] or 0.0,
        "period_hours": hours,
    }


def _floor_hour(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


def _usage_groups(since: datetime, until: datetime, breakpoints: list[datetime], assistant_id):
    """Token sums per assistant and model, in pieces within which every price is constant:
    whole hours from the hourly table, and from the usage rows the window's ragged ends
    and the hours in which a price takes over. Each piece: (assistant_id, assistant_name,
    model, a moment inside it, requests, tokens_in, tokens_out, cached_tokens)."""
    first = since if since == _floor_hour(since) else _floor_hour(since) + HOUR
    last = _floor_hour(until)
    if first < last:
        split_hours = sorted({_floor_hour(b) for b in breakpoints if first <= b < last})
        raw_ranges = [(since, first), (last, until), *((h, h + HOUR) for h in split_hours)]
    else:  # no whole hour inside the window: every row is read
        split_hours, raw_ranges = [], [(since, until)]
    sums = {
        "requests": Sum("requests"),
        "tokens_in": Sum("tokens_in"),
        "tokens_out": Sum("tokens_out"),
        "cached": Sum("cached_tokens"),
    }
    pieces = []
    if first < last:
        hours = AiUsageHour.objects.filter(hour__gte=first, hour__lt=last).exclude(
            hour__in=split_hours
        )
        if assistant_id:
            hours = hours.filter(assistant_id=assistant_id)
        for row in hours.values("assistant_id", "assistant_name", "model", "hour").annotate(**sums):
            pieces.append({**row, "at": row.pop("hour")})
    within = Q()
    for start, end in raw_ranges:
        if start < end:
            within |= Q(timestamp__gte=start, timestamp__lt=end)
    if within:
        rows = AiUsage.objects.filter(within)
        if assistant_id:
            rows = rows.filter(assistant_id=assistant_id)
        period = (
            RawSQL(
                "width_bucket(extract(epoch from timestamp), %s::float8[])",
                [[b.timestamp() for b in breakpoints]],
            )
            if breakpoints
            else TruncHour("timestamp")
        )
        grouped = rows.annotate(period=period).values(
            "assistant_id", "assistant_name", "model", "period"
        )
        for row in grouped.annotate(
            at=Min("timestamp"),
            requests=Count("id"),
            tokens_in=Sum("tokens_in"),
            tokens_out=Sum("tokens_out"),
            cached=Sum("cached_tokens"),
        ):
            row.pop("period")
            pieces.append(row)
    return pieces


def assistant_costs(
    *, hours: int, assistant_id: UUID | None = None, now: datetime | None = None
) -> list[dict]:
    """Tokens and estimated USD per assistant over the window, dearest first. Each piece
    of usage is priced with the price valid at its time, so old usage keeps its price."""
    until = now or timezone.now()
    book = PriceBook()
    totals: dict[tuple, dict] = {}
    for piece in _usage_groups(
        until - timedelta(hours=hours), until, book.breakpoints(), assistant_id
    ):
        key = (piece["assistant_id"], piece["assistant_name"])
        total = totals.setdefault(
            key,
            {
                "assistant_id": piece["assistant_id"],
                "assistant_name": piece["assistant_name"],
                "requests": 0,
                "input_tokens": 0,
                "output_tokens": 0,
                "cached_tokens": 0,
                "unpriced_tokens": 0,
                "estimated_cost_usd": 0.0,
            },
        )
        total["requests"] += piece["requests"]
        total["input_tokens"] += piece["tokens_in"]
        total["output_tokens"] += piece["tokens_out"]
        total["cached_tokens"] += piece["cached"]
        cost = book.cost(
            piece["model"], piece["at"], piece["tokens_in"], piece["tokens_out"], piece["cached"]
        )
        if cost is None:
            total["unpriced_tokens"] += piece["tokens_in"] + piece["tokens_out"]
        else:
            total["estimated_cost_usd"] += cost
    answer = []
    for total in totals.values():
        total["total_tokens"] = total["input_tokens"] + total["output_tokens"]
        total["estimated_cost_usd"] = round(total["estimated_cost_usd"], 6)
        answer.append(total)
    answer.sort(key=lambda t: (-t["estimated_cost_usd"], -t["total_tokens"], t["assistant_name"]))
    return answer


def document_freshness(*, assistant_id: UUID | None = None, now: datetime | None = None) -> list:
    """How many knowledge documents were updated within 30 days, 30-90 days, or longer ago."""
    now = now or timezone.now()
    documents = KnowledgeDocument.objects.all()
    if assistant_id:
        documents = documents.filter(assistant_id=assistant_id)
    day30, day90 = now - timedelta(days=30), now - timedelta(days=90)
    found = documents.aggregate(
        c0=Count("id", filter=Q(updated_at__gt=day30)),
        c1=Count("id", filter=Q(updated_at__lte=day30, updated_at__gte=day90)),
        c2=Count("id", filter=Q(updated_at__lt=day90)),
    )
    total = sum(found.values())
    return [
        {
            "freshness_category": label,
            "doc_count": found[f"c{i}"],
            "percentage": round(100 * found[f"c{i}"] / total, 2) if total else 0.0,
        }
        for i, label in enumerate(FRESHNESS)
    ]
