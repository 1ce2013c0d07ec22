"""Reads of the tracked periods, the dashboard (from its rollup and the raw edges), and
the configuration of what events mean."""

import operator
from datetime import datetime, timedelta
from functools import reduce

from django.conf import settings
from django.db import connection
from django.db.models import Count, Max, Min, Q, QuerySet, Sum
from django.utils import timezone

from apps.alerts.selectors import open_incident_counts
from apps.core.aggregates import ratio, rounded
from apps.events.selectors import event_figures, metadata_value_counts
from apps.metrics.sketch import merge_sketches, quantiles, unnest_sql
from apps.monitoring.selectors import health_summary
from apps.requestlog.selectors import request_sketches, request_summary
from apps.usage.selectors import user_period_counts, users_seen

from . import figures
from .models import (
    SEEN_KEY_LENGTH,
    AgentAnalytics,
    EventMeaning,
    Meaning,
    PlatformMetrics,
    RequestRollup,
    RollupChunk,
    SeenKey,
    SeenKind,
    UserAnalytics,
)
from .periods import PeriodType


def event_types() -> dict[str, tuple[str, ...]]:
    """Each meaning's event types: the admin's override, else INSIGHTS_EVENT_TYPES."""
    types = {m: tuple(settings.INSIGHTS_EVENT_TYPES.get(m, [m])) for m in Meaning.values}
    for meaning, overridden in EventMeaning.objects.values_list("meaning", "event_types"):
        types[meaning] = tuple(overridden)
    return types


def _periods(rows: QuerySet, period_type: str, periods: int) -> list:
    """The latest `periods` rows of that type, oldest first."""
    latest = rows.filter(period_type=period_type).order_by("-period_start")[:periods]
    return list(reversed(latest))


def user_periods(*, user_id: str, period_type: str, periods: int = 1) -> list[UserAnalytics]:
    return _periods(UserAnalytics.objects.filter(user_id=user_id), period_type, periods)


def agent_periods(*, agent_id: str, period_type: str, periods: int = 1) -> list[AgentAnalytics]:
    return _periods(AgentAnalytics.objects.filter(agent_id=agent_id), period_type, periods)


def platform_periods(*, period_type: str, periods: int) -> list[PlatformMetrics]:
    return _periods(PlatformMetrics.objects.all(), period_type, periods)


def user_known(user_id: str) -> bool:
    return UserAnalytics.objects.filter(user_id=user_id).exists()


def agent_known(agent_id: str) -> bool:
    return AgentAnalytics.objects.filter(agent_id=agent_id).exists()


AGENT_KEY = "agent_id"
# The dashboard's request percentiles are exact (percentile_cont over the rows) while the
# window holds at most this many request logs; beyond, read from the rollup's DDSketch.
EXACT_REQUEST_LOGS = 10_000


def keys_seen(kind: str, *, since: datetime, until: datetime) -> set[str]:
    """The users (what user_period_counts counts) or agents (what metadata_value_counts
    counts: any event naming one) of [since, until), as SeenKey keeps them (an agent id
    from metadata may be longer than a key: cut, the same way everywhere)."""
    if kind == SeenKind.USER:
        return users_seen(since=since, until=until)
    named = event_figures(
        since=since, until=until, figures=figures.agents_seen(), group_by=AGENT_KEY
    )
    return {key[:SEEN_KEY_LENGTH] for key in named}


def dashboard(*, days: int, now: datetime | None = None) -> dict:
    """The platform now and over the last `days` days, each part asked of its owner:
    users, agents, contracts and money (live), the tracked daily rows, the API's
    performance, and health and open incidents. Read from the rollup (dashboard_rollup)
    plus the raw rows at the window's edges when one reaches into the window, else from
    the raw rows alone (dashboard_from_rows)."""
    now = now or timezone.now()
    since = now - timedelta(days=days)
    parts = _rolled_parts(since, now, days) or _raw_parts(since, now, days)
    return {**parts, **_rest(since, now, days)}


def dashboard_from_rows(*, days: int, now: datetime | None = None) -> dict:
    """dashboard() from the raw rows alone, whatever was rolled up: the answer before the
    rollup existed, the reference of its tests and bench."""
    now = now or timezone.now()
    since = now - timedelta(days=days)
    return {**_raw_parts(since, now, days), **_rest(since, now, days)}


def _rest(since: datetime, now: datetime, days: int) -> dict:
    incidents = open_incident_counts()
    return {
        "trends": list(
            PlatformMetrics.objects.filter(
                period_type=PeriodType.DAY, period_start__gte=since
            ).order_by("period_start")
        ),
        "monitoring": {
            "health": health_summary(),
            "open_incidents": sum(incidents.values()),
            "open_incidents_by_severity": incidents,
        },
        "days": days,
        "generated_at": now,
    }


def _current(users: dict, agents: dict, totals: dict, inside: dict) -> dict:
    return {
        "users": {k: users[k] for k in ("total", "active", "new")},
        "agents": {k: agents[k] for k in ("total", "active", "new")},
        "contracts": {
            "total": totals["created"],
            "active": max(totals["created"] - totals["closed"], 0),
            "completed": inside["completed"],
        },
        "financial": {
            "revenue": inside["revenue"] or 0.0,
            "platform_fees": inside["platform_fees"] or 0.0,
        },
    }


def _raw_parts(since: datetime, now: datetime, days: int) -> dict:
    """Every figure from the raw rows: all-time distinct users and agents and contract
    totals, percentiles over every request log of the window."""
    window = {"since": since, "until": now}
    types = event_types()
    return {
        "current_metrics": _current(
            user_period_counts(**window),
            metadata_value_counts(key=AGENT_KEY, **window),
            event_figures(since=None, until=now, figures=figures.contract_totals(types)),
            event_figures(**window, figures=figures.dashboard_window_figures(types)),
        ),
        "performance": request_summary(since=since, hours=days * 24),
    }


def _rolled_parts(since: datetime, now: datetime, days: int) -> dict | None:
    """The same figures from the rollup's chunks inside the window plus the raw rows of
    its edges: the head (from `since` to the end of the chunk holding it, or to the first
    chunk) and the tail (from the last chunk's end to `now`). None when no chunk ends
    inside the window (or after `now`: a read of the past)."""
    straddles = Q(start__lt=since, end__gt=since)
    inside = Q(start__gte=since)
    found = RollupChunk.objects.aggregate(  # one read of every chunk (an hour's, or a day's)
        first=Min("start", filter=Q(end__gt=since)),
        mark=Max("end"),
        head_start=Min("start", filter=straddles),
        head_end=Min("end", filter=straddles),
        created=Sum("contracts_created", default=0),
        closed=Sum("contracts_closed", default=0),
        completed=Sum("completed_contracts", default=0, filter=inside),
        revenue=Sum("revenue", filter=inside),
        platform_fees=Sum("platform_fees", filter=inside),
        head_completed=Sum("completed_contracts", filter=straddles),
        head_requests=Sum("requests", filter=straddles),
    )
    mark, head_start = found.pop("mark"), found.pop("head_start")
    head_completed, head_requests = found.pop("head_completed"), found.pop("head_requests")
    if mark is None or mark <= since or mark > now:
        return None
    head_end, first = found.pop("head_end"), found.pop("first")
    if head_start is None:  # the window starts before the first chunk
        head_end = first
    # (start, end, inside a chunk, events to read, request logs to read): the head of a
    # chunk is already in the all-time totals, and holds nothing to read where its chunk
    # had no completed contract or no request (what came later is not read, as in it).
    raw = []
    if head_start is not None:
        raw.append((since, head_end, True, bool(head_completed), bool(head_requests)))
    elif since < head_end:
        raw.append((since, head_end, False, True, True))
    if mark < now:
        raw.append((mark, now, False, True, True))
    sums = _window_sums(found, event_types(), raw)
    seen = _seen_counts(since, now, mark, head_start, head_end)
    return {
        "current_metrics": _current(seen[SeenKind.USER], seen[SeenKind.AGENT], sums, sums),
        "performance": _rolled_performance(since, days, raw),
    }


def _window_sums(sums: dict, types: dict, raw: list[tuple]) -> dict:
    """The chunks' `sums` (contracts opened and closed ever, completed, revenue and fees
    in the window) with the raw rows' of the window's edges: all five for a span outside
    every chunk, the window's three for the head of a chunk."""
    for start, end, in_chunk, events, _requests in raw:
        if not events:
            continue
        found = event_figures(since=start, until=end, figures=figures.rollup_figures(types))
        keys = ("completed", "revenue", "platform_fees")
        if not in_chunk:
            keys += ("created", "closed")
        for key in keys:
            if found[key] is not None:
                sums[key] = (sums[key] or 0) + found[key]
    return sums


def _seen_counts(
    since: datetime,
    now: datetime,
    mark: datetime,
    head_start: datetime | None,
    head_end: datetime,
) -> dict[str, dict]:
    """Per kind (users, agents): `total` (ever seen), `active` (seen in [since, now)) and
    `new` (first seen there), as user_period_counts and metadata_value_counts count
    them: the keys the rollup remembers with the chunks of their first and last
    sighting, those of the chunk holding `since` placed before or after it from its raw
    rows, and those seen since the last chunk (keys_seen). Both kinds in each read."""
    kinds = list(SeenKind.values)
    aggregates = {}
    for kind in kinds:
        of = Q(kind=kind)
        aggregates[f"{kind}_total"] = Count("id", filter=of)
        aggregates[f"{kind}_new"] = Count("id", filter=of & Q(first_from__gte=since))
        aggregates[f"{kind}_active"] = Count("id", filter=of & Q(last_from__gte=since))
    found = SeenKey.objects.aggregate(**aggregates)
    counts = {kind: {n: found[f"{kind}_{n}"] for n in ("total", "new", "active")} for kind in kinds}
    active_after: dict[str, set[str]] = {kind: set() for kind in kinds}
    if head_start is not None:  # first or last seen in the chunk that holds `since`
        firsts: dict[str, set[str]] = {kind: set() for kind in kinds}
        lasts: dict[str, set[str]] = {kind: set() for kind in kinds}
        straddling = SeenKey.objects.filter(Q(first_from=head_start) | Q(last_from=head_start))
        for kind, key, first, last in straddling.values_list(
            "kind", "key", "first_from", "last_from"
        ):
            if first == head_start:
                firsts[kind].add(key)
            if last == head_start:
                lasts[kind].add(key)
        for kind in kinds:
            if firsts[kind]:
                before = keys_seen(kind, since=head_start, until=since)
                counts[kind]["new"] += len(firsts[kind] - before)
            if lasts[kind]:
                active_after[kind] = lasts[kind] & keys_seen(kind, since=since, until=head_end)
                counts[kind]["active"] += len(active_after[kind])
    if mark < now:
        tails = {kind: keys_seen(kind, since=mark, until=now) for kind in kinds}
        wanted = [Q(kind=kind, key__in=tail) for kind, tail in tails.items() if tail]
        known: dict[str, dict[str, datetime]] = {kind: {} for kind in kinds}
        if wanted:
            rows = SeenKey.objects.filter(reduce(operator.or_, wanted))
            for kind, key, last in rows.values_list("kind", "key", "last_from"):
                known[kind][key] = last
        for kind, tail in tails.items():
            unknown = len(tail) - len(known[kind])
            counts[kind]["total"] += unknown
            counts[kind]["new"] += unknown
            counts[kind]["active"] += unknown + sum(
                1
                for key, last in known[kind].items()
                if last < since and key not in active_after[kind]
            )
    return counts


def _rolled_performance(since: datetime, days: int, raw: list[tuple]) -> dict:
    """request_summary()'s answer from the chunks' sketches and the raw edges' ones:
    counts, rates and the average exact, percentiles within 1% (apps.metrics.sketch);
    exactly request_summary() while the window holds at most EXACT_REQUEST_LOGS."""
    endpoints: dict[str, dict] = {}

    def add(row: dict) -> None:
        found = endpoints.setdefault(
            row["endpoint"],
            {"requests": 0, "ms_sum": 0.0, "errors": 0, "server_errors": 0, "min_ms": None,
             "max_ms": None, "sketches": []},
        )  # fmt: skip
        for key in ("requests", "ms_sum", "errors", "server_errors"):
            found[key] += row[key]
        low, high = found["min_ms"], found["max_ms"]
        found["min_ms"] = row["min_ms"] if low is None else min(low, row["min_ms"])
        found["max_ms"] = row["max_ms"] if high is None else max(high, row["max_ms"])
        found["sketches"].append((row["keys"], row["counts"]))

    for row in _rolled_requests(since):
        add(row)
    for start, end, _in_chunk, _events, requests in raw:
        if not requests:
            continue
        for row in request_sketches(since=start, until=end):
            add(row)
    total = sum(e["requests"] for e in endpoints.values())
    if total <= EXACT_REQUEST_LOGS:
        return request_summary(since=since, hours=days * 24)
    for found in endpoints.values():
        found["keys"], found["counts"] = merge_sketches(found.pop("sketches"))
    overall = _percentiles(list(endpoints.values()), (0.5, 0.95, 0.99))
    slowest = sorted(
        (
            (name, found["requests"], _percentiles([found], (0.95,))[0.95])
            for name, found in endpoints.items()
        ),
        key=lambda row: -row[2],
    )[:10]
    errors = sum(e["errors"] for e in endpoints.values())
    server_errors = sum(e["server_errors"] for e in endpoints.values())
    return {
        "total_requests": total,
        "requests_per_minute": round(total / (days * 24 * 60), 3),
        "avg_response_time_ms": rounded(sum(e["ms_sum"] for e in endpoints.values()) / total),
        "p50_response_time_ms": rounded(overall[0.5]),
        "p95_response_time_ms": rounded(overall[0.95]),
        "p99_response_time_ms": rounded(overall[0.99]),
        "error_rate": ratio(errors, total),
        "server_error_rate": ratio(server_errors, total),
        "slowest_endpoints": [
            {"endpoint": name, "request_count": n, "p95_response_time_ms": rounded(p95)}
            for name, n, p95 in slowest
        ],
    }


def _percentiles(parts: list[dict], qs: tuple[float, ...]) -> dict[float, float | None]:
    keys, counts = merge_sketches([(p["keys"], p["counts"]) for p in parts])
    return quantiles(
        keys,
        counts,
        qs,
        low=min(p["min_ms"] for p in parts),
        high=max(p["max_ms"] for p in parts),
    )


def _rolled_requests(since: datetime) -> list[dict]:
    """The chunks' request rollups from `since` on, per endpoint, their sketches added up
    in the database (a month of hourly chunks is some 150,000 buckets)."""
    rollups = RequestRollup.objects.filter(chunk__start__gte=since)
    sql, params = rollups.values("id").query.sql_with_params()
    table = RequestRollup._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            "WITH r AS (SELECT * FROM " + table + " WHERE id IN (" + sql + ")), "  # noqa: S608
            "b AS (SELECT endpoint, k, SUM(c)::bigint AS c FROM (SELECT endpoint, "
            + unnest_sql("sketch_keys", "sketch_counts")
            + " FROM r) u GROUP BY 1, 2) "
            "SELECT s.endpoint, s.n, s.ms, s.e, s.se, s.lo, s.hi, b.keys, b.counts FROM "
            "(SELECT endpoint, SUM(requests)::bigint AS n, SUM(ms_sum) AS ms, "
            "SUM(errors)::bigint AS e, SUM(server_errors)::bigint AS se, MIN(min_ms) AS lo, "
            "MAX(max_ms) AS hi FROM r GROUP BY endpoint) s JOIN (SELECT endpoint, "
            "array_agg(k ORDER BY k) AS keys, array_agg(c ORDER BY k) AS counts FROM b "
            "GROUP BY endpoint) b USING (endpoint)",
            params,
        )
        names = ("endpoint", "requests", "ms_sum", "errors", "server_errors", "min_ms", "max_ms")
        return [
            {**dict(zip(names, row[:7], strict=True)), "keys": row[7], "counts": row[8]}
            for row in cursor.fetchall()
        ]
