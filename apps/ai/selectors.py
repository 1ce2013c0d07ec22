"""Reads of AI usage: time to first token, costs, knowledge freshness, trending questions
and topic diversity, cache and step breakdowns, per-feature figures, the dashboard."""

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from uuid import UUID

from django.db import connection
from django.db.models import Count, Max, Min, Q, QuerySet, Sum, Value
from django.db.models.expressions import RawSQL
from django.db.models.functions import Coalesce, TruncDay, TruncHour
from django.utils import timezone

from apps.core.windows import floor
from apps.events.selectors import per_user, per_user_bucket
from apps.metrics.selectors import metric_statistics

from .metric_sources import (
    STEP_DURATION,
    STEP_TOKENS_IN,
    STEP_TOKENS_OUT,
    TIME_BETWEEN_TOKENS,
    TOKENS_PER_SECOND,
    TTFT,
)
from .models import AiQuestion, AiQuestionVariant, AiUsage, AiUsageHour, KnowledgeDocument
from .prices import PriceBook

HOUR = timedelta(hours=1)
# Age in days: fresh under 30, aging 30 to 90 (both included), stale over 90.
FRESHNESS = ("Fresh (<30d)", "Aging (30-90d)", "Stale (>90d)")


def ttft_percentiles(
    *, hours: int, assistant_id: UUID | None = None, now: datetime | None = None
) -> dict:
    """p50/p95/p99 of time to first token (ms) over the window; zeros when there is none.
    From the metrics engine (percentile_cont; exact for small windows, within 1% beyond)."""
    tags = {"assistant_id": str(assistant_id)} if assistant_id else None
    stats = metric_statistics(name=TTFT, hours=hours, tags=tags, now=now)
    return {
        "p50": stats["p50"] or 0.0,
        "p95": stats["p95"] or 0.0,
        "p99": stats["p99"] or 0.0,
        "period_hours": hours,
    }


def generation_speed(
    *, hours: int, assistant_id: UUID | None = None, now: datetime | None = None
) -> list[dict]:
    """Per model, over the requests that said how long their generation took: output tokens
    per second and the time between two tokens; the most used model first."""
    tags = {"assistant_id": str(assistant_id)} if assistant_id else None

    def per_model(name: str) -> dict[str, dict]:
        stats = metric_statistics(name=name, hours=hours, tags=tags, now=now, group_by="model")
        return {group["value"]: group for group in stats["groups"]}

    speeds, gaps = per_model(TOKENS_PER_SECOND), per_model(TIME_BETWEEN_TOKENS)
    answer = [
        {
            "model": model,
            "requests": speed["count"],
            "tokens_per_second": {k: speed[k] for k in ("avg", "p50", "p95")},
            "time_between_tokens_ms": {
                k: gaps.get(model, {}).get(k) for k in ("avg", "p50", "p95", "p99")
            },
        }
        for model, speed in speeds.items()
    ]
    answer.sort(key=lambda row: (-row["requests"], row["model"]))
    return answer


def _split_window(since: datetime, until: datetime, breakpoints: Sequence[datetime] = ()):
    """(first, last, hours to read raw, raw ranges): whole hours [first, last) come from the
    hourly table except `hours to read raw`; the raw ranges (the ragged ends, and the
    hours in which a breakpoint falls) come from the usage rows."""
    first = since if since == floor(since, "h") else floor(since, "h") + HOUR
    last = floor(until, "h")
    if first >= last:  # no whole hour inside the window: every row is read
        return first, first, [], [(since, until)]
    split_hours = sorted({floor(b, "h") for b in breakpoints if first <= b < last})
    raw_ranges = [(since, first), (last, until), *((h, h + HOUR) for h in split_hours)]
    return first, last, split_hours, raw_ranges


def _raw_rows(raw_ranges: list[tuple[datetime, datetime]], assistant_id):
    within = Q()
    for start, end in raw_ranges:
        if start < end:
            within |= Q(timestamp__gte=start, timestamp__lt=end)
    if not within:
        return AiUsage.objects.none()
    rows = AiUsage.objects.filter(within)
    return rows.filter(assistant_id=assistant_id) if assistant_id else rows


def _hour_rows(first: datetime, last: datetime, split_hours: list, assistant_id):
    hours = AiUsageHour.objects.filter(hour__gte=first, hour__lt=last)
    if split_hours:
        hours = hours.exclude(hour__in=split_hours)
    return hours.filter(assistant_id=assistant_id) if assistant_id else hours


def _usage_groups(since: datetime, until: datetime, breakpoints: list[datetime], assistant_id):
    """Token sums per assistant and model, in pieces within which every price is constant:
    whole hours from the hourly table, and from the usage rows the window's ragged ends
    and the hours in which a price takes over. Each piece: (assistant_id, assistant_name,
    model, a moment inside it, requests, tokens_in, tokens_out, cached_tokens, and of the
    requests that reported a provider cost their number and its sum)."""
    first, last, split_hours, raw_ranges = _split_window(since, until, breakpoints)
    pieces = []
    hours = _hour_rows(first, last, split_hours, assistant_id)
    sums = {
        "requests": Sum("requests"),
        "tokens_in": Sum("tokens_in"),
        "tokens_out": Sum("tokens_out"),
        "cached": Sum("cached_tokens"),
        "reported": Sum("reported"),
        "reported_cost": Sum("reported_cost_usd"),
    }
    for row in hours.values("assistant_id", "assistant_name", "model", "hour").annotate(**sums):
        pieces.append({**row, "at": row.pop("hour")})
    # Rows between two breakpoints share every price: one piece per such period.
    period = (
        RawSQL(
            "width_bucket(extract(epoch from timestamp), %s::float8[])",
            [[b.timestamp() for b in breakpoints]],
        )
        if breakpoints
        else Value(0)
    )
    grouped = (
        _raw_rows(raw_ranges, assistant_id)
        .annotate(period=period)
        .values("assistant_id", "assistant_name", "model", "period")
    )
    for row in grouped.annotate(
        at=Min("timestamp"),
        requests=Count("id"),
        tokens_in=Sum("tokens_in"),
        tokens_out=Sum("tokens_out"),
        cached=Sum("cached_tokens"),
        reported=Count("reported_cost_usd"),
        reported_cost=Sum("reported_cost_usd"),
    ):
        row.pop("period")
        pieces.append(row)
    return pieces


def _add_reported(total: dict, piece: dict) -> None:
    """The provider-reported cost of a piece into its total (none reported: 0)."""
    total["reported_requests"] += piece["reported"] or 0
    total["reported_cost_usd"] += piece["reported_cost"] or 0.0


def assistant_costs(
    *, hours: int, assistant_id: UUID | None = None, now: datetime | None = None
) -> list[dict]:
    """Tokens and estimated USD per assistant over the window, dearest first. Each piece
    of usage is priced with the price valid at its time, so old usage keeps its price.
    Beside the estimate, `reported_cost_usd`: the sum of the costs the providers reported,
    over the `reported_requests` that reported one (0.0 and 0 when none did)."""
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
                "reported_cost_usd": 0.0,
                "reported_requests": 0,
            },
        )
        _add_reported(total, piece)
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
        total["reported_cost_usd"] = round(total["reported_cost_usd"], 6)
        answer.append(total)
    answer.sort(key=lambda t: (-t["estimated_cost_usd"], -t["total_tokens"], t["assistant_name"]))
    return answer


DAY = timedelta(days=1)
_DAY_KEY = ("assistant_id", "assistant_name", "model", "feature")
_DAY_SUMS = ("requests", "successes", "cache_known", "cache_hits", "tokens_in", "tokens_out")


def usage_per_day(*, days: int, now: datetime | None = None) -> list[dict]:
    """Per UTC day (the last `days` of them, today's so far included), assistant, model and
    feature: requests, successes, cache hits of the requests that said, tokens and the
    estimated USD, each piece priced as assistant_costs prices it (the price valid at its
    time; `unpriced_tokens` for models without one) and beside it the provider-reported
    cost (`reported_cost_usd` over `reported_requests`). Whole hours come from the hourly sums,
    the current hour and any hour in which a price takes over from the usage rows. Days
    without usage are absent; ordered by day, then dearest first."""
    until = now or timezone.now()
    since = floor(until, "d") - (days - 1) * DAY
    book = PriceBook()
    breakpoints = book.breakpoints()
    first, last, split_hours, raw_ranges = _split_window(since, until, breakpoints)

    def period(column: str):
        """Which span between two breakpoints `column` falls in: within one, and one
        day, every price is constant, so each (key, day, period) is one piece."""
        if not breakpoints:
            return Value(0)
        edges = [[b.timestamp() for b in breakpoints]]
        if column == "hour":
            return RawSQL('width_bucket(extract(epoch from "hour"), %s::float8[])', edges)
        return RawSQL("width_bucket(extract(epoch from timestamp), %s::float8[])", edges)

    pieces = []
    # Hours in which a price takes over are read from the rows: a whole hour is in one
    # period. One piece per day rather than per hour: 90 days of 72 keys are 6,480
    # rows to price, not 155,520.
    hours = (
        _hour_rows(first, last, split_hours, None)
        .annotate(period=period("hour"), day=TruncDay("hour", tzinfo=UTC))
        .values(*_DAY_KEY, "period", "day")
    )
    for row in hours.annotate(
        **{name: Sum(name) for name in _DAY_SUMS},
        cached=Sum("cached_tokens"),
        reported=Sum("reported"),
        reported_cost=Sum("reported_cost_usd"),
        at=Min("hour"),
    ):
        del row["period"], row["day"]
        pieces.append(row)
    grouped = (
        _raw_rows(raw_ranges, None)
        .annotate(period=period("timestamp"), day=TruncDay("timestamp", tzinfo=UTC))
        .values(*_DAY_KEY, "period", "day")
    )
    for row in grouped.annotate(
        at=Min("timestamp"),
        requests=Count("id"),
        successes=Count("id", filter=Q(success=True)),
        cache_known=Count("cache_hit"),
        cache_hits=Count("id", filter=Q(cache_hit=True)),
        tokens_in=Sum("tokens_in"),
        tokens_out=Sum("tokens_out"),
        cached=Sum("cached_tokens"),
        reported=Count("reported_cost_usd"),
        reported_cost=Sum("reported_cost_usd"),
    ):
        del row["period"], row["day"]
        pieces.append(row)
    totals: dict[tuple, dict] = {}
    for piece in pieces:
        day = floor(piece["at"].astimezone(UTC), "d")
        total = totals.setdefault(
            (day, *(piece[k] for k in _DAY_KEY)),
            {
                "day": day,
                **{k: piece[k] for k in _DAY_KEY},
                **dict.fromkeys(_DAY_SUMS, 0),
                "cached_tokens": 0,
                "unpriced_tokens": 0,
                "estimated_cost_usd": 0.0,
                "reported_cost_usd": 0.0,
                "reported_requests": 0,
            },
        )
        _add_reported(total, piece)
        for name in _DAY_SUMS:
            total[name] += piece[name] or 0
        total["cached_tokens"] += piece["cached"] or 0
        cost = book.cost(
            piece["model"],
            piece["at"],
            piece["tokens_in"] or 0,
            piece["tokens_out"] or 0,
            piece["cached"] or 0,
        )
        if cost is None:
            total["unpriced_tokens"] += (piece["tokens_in"] or 0) + (piece["tokens_out"] or 0)
        else:
            total["estimated_cost_usd"] += cost
    answer = list(totals.values())
    for total in answer:
        total["estimated_cost_usd"] = round(total["estimated_cost_usd"], 6)
        total["reported_cost_usd"] = round(total["reported_cost_usd"], 6)
    answer.sort(
        key=lambda t: (t["day"], -t["estimated_cost_usd"], -t["requests"], t["model"], t["feature"])
    )
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


# The hourly table's sums, and the same figures computed from usage rows.
_HOUR_SUMS = {
    "requests": Sum("requests"),
    "successes": Sum("successes"),
    "timed": Sum("timed"),
    "response_ms_sum": Sum("response_ms_sum"),
    "cache_known": Sum("cache_known"),
    "cache_hits": Sum("cache_hits"),
}
_ROW_SUMS = {
    "requests": Count("id"),
    "successes": Count("id", filter=Q(success=True)),
    "timed": Count("response_time_ms"),
    "response_ms_sum": Coalesce(Sum("response_time_ms"), 0.0),
    "cache_known": Count("cache_hit"),
    "cache_hits": Count("id", filter=Q(cache_hit=True)),
}


def _usage_sums(since: datetime, until: datetime, by: str | None, assistant_id) -> dict:
    """{value of `by` (or None): requests, successes, timed, response_ms_sum, cache_known,
    cache_hits} over the window, exact: whole hours summed, ragged ends from the rows."""
    first, last, split_hours, raw_ranges = _split_window(since, until)
    fields = [by] if by else []
    totals: dict = {}
    for source, sums in (
        (_hour_rows(first, last, split_hours, assistant_id), _HOUR_SUMS),
        (_raw_rows(raw_ranges, assistant_id), _ROW_SUMS),
    ):
        rows = source.values(*fields).annotate(**sums) if by else [source.aggregate(**sums)]
        for row in rows:
            key = row.pop(by) if by else None
            total = totals.setdefault(key, dict.fromkeys(_HOUR_SUMS, 0))
            for name in _HOUR_SUMS:
                total[name] += row[name] or 0
    return totals


def _percent(part: float, whole: float) -> float:
    return round(100 * part / whole, 2) if whole else 0.0


def cache_metrics(
    *, hours: int, assistant_id: UUID | None = None, now: datetime | None = None
) -> dict:
    """Of the requests that said whether the cache served them, how many it did."""
    until = now or timezone.now()
    sums = _usage_sums(until - timedelta(hours=hours), until, None, assistant_id)[None]
    known, hits = sums["cache_known"], sums["cache_hits"]
    return {
        "hit_rate": _percent(hits, known),
        "total_requests": known,
        "cache_hits": hits,
        "cache_misses": known - hits,
        "period_hours": hours,
    }


def feature_stats(*, hours: int, now: datetime | None = None) -> list[dict]:
    """Per feature: requests, success rate and cache hit rate (percent), average response
    time; most used first."""
    until = now or timezone.now()
    sums = _usage_sums(until - timedelta(hours=hours), until, "feature", None)
    answer = [
        {
            "feature": feature,
            "requests": total["requests"],
            "success_rate": _percent(total["successes"], total["requests"]),
            "avg_response_time_ms": (
                round(total["response_ms_sum"] / total["timed"], 3) if total["timed"] else None
            ),
            "cache_hit_rate": _percent(total["cache_hits"], total["cache_known"]),
        }
        for feature, total in sums.items()
        if total["requests"]
    ]
    answer.sort(key=lambda f: (-f["requests"], f["feature"]))
    return answer


def _questions(assistant_id: UUID | None):
    questions = AiQuestion.objects.all()
    if assistant_id:
        questions = questions.filter(assistant_id=assistant_id)
    return questions.values("question_key")


def trending_topics(*, limit: int, assistant_id: UUID | None = None) -> list[dict]:
    """The most asked questions, asked in any wording: `topic` is the normalized question,
    `canonical_text` its most asked wording, `variation_count` how many wordings."""
    top = list(
        _questions(assistant_id)
        .annotate(frequency=Sum("frequency"), last_asked=Max("last_asked"))
        .order_by("-frequency", "-last_asked", "question_key")[:limit]
    )
    variants = AiQuestionVariant.objects.filter(question_key__in=[t["question_key"] for t in top])
    if assistant_id:
        variants = variants.filter(assistant_id=assistant_id)
    wordings: dict[str, list] = {}
    for row in variants.values("question_key", "text_hash").annotate(
        asked=Sum("asked"), last=Max("last_asked"), text=Min("text")
    ):
        wordings.setdefault(row["question_key"], []).append(row)
    answer = []
    for topic in top:
        found = wordings.get(topic["question_key"], [])
        canonical = max(found, key=lambda w: (w["asked"], w["last"]), default=None)
        answer.append(
            {
                "topic": topic["question_key"],
                "canonical_text": canonical["text"] if canonical else topic["question_key"],
                "frequency": topic["frequency"],
                "variation_count": len(found),
                "last_asked": topic["last_asked"],
            }
        )
    return answer


def topic_diversity(*, assistant_id: UUID | None = None) -> dict:
    """1 - the sum of squared topic shares (0: one topic; near 1: many even ones)."""
    where, params = ("WHERE assistant_id = %s", [assistant_id]) if assistant_id else ("", [])
    with connection.cursor() as cursor:
        cursor.execute(
            f"""SELECT count(*), sum(f), sum(f * f), max(f) FROM (
                SELECT sum(frequency)::float8 AS f FROM {AiQuestion._meta.db_table} {where}
                GROUP BY question_key) AS topics""",
            params,
        )
        topics, total, squares, largest = cursor.fetchone()
    if not total:
        return {"diversity_score": 0.0, "total_topics": 0, "dominant_topic_share": 0.0}
    return {
        "diversity_score": round(1 - squares / total**2, 4),
        "total_topics": topics,
        "dominant_topic_share": round(largest / total, 4),
    }


def step_breakdown(
    *, days: int, assistant_id: UUID | None = None, now: datetime | None = None
) -> list[dict]:
    """Per pipeline step: average and p95 duration, count, average tokens; slowest first.
    From the metrics engine's rollups of the step points."""
    until = now or timezone.now()
    window = {"since": until - timedelta(days=days), "until": until}
    tags = {"assistant_id": str(assistant_id)} if assistant_id else None

    def groups(name: str, percentiles: bool = False) -> dict:
        stats = metric_statistics(
            name=name, tags=tags, group_by="step", percentiles=percentiles, **window
        )
        return {group["value"]: group for group in stats["groups"]}

    durations = groups(STEP_DURATION, percentiles=True)
    tokens_in, tokens_out = groups(STEP_TOKENS_IN), groups(STEP_TOKENS_OUT)
    answer = []
    for step, counted in tokens_in.items():
        duration = durations.get(step, {})
        answer.append(
            {
                "step_name": step,
                "avg_duration": duration.get("avg"),
                "p95_duration": duration.get("p95"),
                "step_count": counted["count"],
                "avg_tokens": {
                    "input": counted["avg"],
                    "output": tokens_out.get(step, {}).get("avg") or 0.0,
                },
            }
        )
    answer.sort(key=lambda s: (-(s["avg_duration"] or 0), s["step_name"]))
    return answer


def advanced_analytics(
    *,
    assistant_id: UUID | None = None,
    ttft_hours: int = 24,
    step_days: int = 7,
    cache_hours: int = 24,
    cost_hours: int = 24,
    trending_limit: int = 10,
) -> dict:
    """Everything the assistant dashboard shows, in one answer."""
    now = timezone.now()
    mine = {"assistant_id": assistant_id}
    return {
        "ttft": ttft_percentiles(hours=ttft_hours, now=now, **mine),
        "step_breakdown": step_breakdown(days=step_days, now=now, **mine),
        "cache_metrics": cache_metrics(hours=cache_hours, now=now, **mine),
        "trending_topics": trending_topics(limit=trending_limit, **mine),
        "topic_diversity": topic_diversity(**mine),
        "costs": assistant_costs(hours=cost_hours, now=now, **mine),
        "freshness": document_freshness(now=now, **mine),
        "generated_at": now,
    }


def usage_overview(*, now: datetime | None = None) -> dict:
    """The dashboard's AI figures over everything kept: requests, average response time
    (seconds), cache hit rate, and the model most used over the last 24 hours."""
    now = now or timezone.now()
    totals = AiUsageHour.objects.aggregate(**_HOUR_SUMS)
    busiest = (
        AiUsageHour.objects.filter(hour__gte=floor(now - timedelta(hours=24), "h"))
        .exclude(model="")
        .values("model")
        .annotate(used=Sum("requests"))
        .order_by("-used", "model")
        .first()
    )
    timed = totals["timed"] or 0
    return {
        "model": busiest["model"] if busiest else None,
        "total_requests": totals["requests"] or 0,
        "avg_response_time": round(totals["response_ms_sum"] / timed / 1000, 3) if timed else None,
        "cache_hit_rate": _percent(totals["cache_hits"] or 0, totals["cache_known"] or 0),
    }


def user_request_counts(
    *, since: datetime | None = None, until: datetime | None = None
) -> QuerySet:
    """Per user: AI requests, first and last (events' per_user() shape), to be added to
    other apps' counts (apps.core.db.union_all)."""
    usage = AiUsage.objects.all()
    if since is not None:
        usage = usage.filter(timestamp__gte=since)
    if until is not None:
        usage = usage.filter(timestamp__lt=until)
    return per_user(usage)


def user_request_buckets(*, since: datetime, until: datetime, bucket: str) -> QuerySet:
    """When each user made AI requests: events' per_user_bucket() shape."""
    return per_user_bucket(
        AiUsage.objects.filter(timestamp__gte=since, timestamp__lt=until), bucket
    )


def conversation_count(*, since: datetime) -> int:
    """Different conversations with an AI request since `since`."""
    usage = AiUsage.objects.filter(timestamp__gte=since).exclude(conversation_id="")
    return usage.values("conversation_id").distinct().count()


def hours_received(*, since: datetime, before: datetime) -> set[datetime]:
    """The hours (UTC) of the timestamps before `before` of the AI usage received from
    `since` on: where items arriving late landed (a rollup re-reads them)."""
    late = AiUsage.objects.filter(received_at__gte=since, timestamp__lt=before)
    return set(
        late.annotate(hour=TruncHour("timestamp", tzinfo=UTC))
        .order_by()
        .values_list("hour", flat=True)
        .distinct()
    )
