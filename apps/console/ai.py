"""The AI usage page: cost per day by model and by assistant, requests and success rate per
feature, time to first token and generation speed per day, cache hit rate, trending
questions and knowledge freshness, over a window of 7, 30 or 90 days (`?days=`).

Thin: every figure comes from apps.ai's selectors (and the metrics engine's time series
for the ai.* points), called with the arguments of the public API request each chart
names, so a chart and its API answer agree. The per-day usage has no public route yet:
its source is this page's own `data/ai/daily` (JSON or `format=csv`).
"""

import io
from datetime import datetime, timedelta
from urllib.parse import urlencode

from django.core.serializers.json import DjangoJSONEncoder
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone

from apps.ai.metric_sources import TOKENS_PER_SECOND, TTFT
from apps.ai.selectors import (
    document_freshness,
    feature_stats,
    trending_topics,
    ttft_percentiles,
    usage_per_day,
)
from apps.core.errors import error_body
from apps.core.renderers import csv_write, flatten, table
from apps.metrics.selectors import metric_time_series

from .pages import console_data, console_page, context, page_named, require_panel

WINDOWS = (7, 30, 90)  # days; 90 is the usage's default retention (ANALYTICS_RETENTION_DAYS)
DEFAULT_DAYS = 7
MAX_DAYS = 90
# /ai-features and /ttft answer 1-168 hours: their figures cover the window up to 7 days.
MAX_API_HOURS = 168
TRENDING_LIMIT = 10
TOP_SERIES = 5  # lines per chart; the rest are summed into one "Other" line
REFRESH_SECONDS = 60
DAY = timedelta(days=1)
DAILY_COLUMNS = (
    "day",
    "assistant_id",
    "assistant_name",
    "model",
    "feature",
    "requests",
    "successes",
    "cache_known",
    "cache_hits",
    "tokens_in",
    "tokens_out",
    "cached_tokens",
    "unpriced_tokens",
    "estimated_cost_usd",
    "reported_cost_usd",
    "reported_requests",
)


def page_days(request: HttpRequest) -> int:
    """The page's window: one of WINDOWS, the default for anything else."""
    try:
        days = int(request.GET.get("days", DEFAULT_DAYS))
    except ValueError:
        return DEFAULT_DAYS
    return days if days in WINDOWS else DEFAULT_DAYS


def source_days(request: HttpRequest) -> int | None:
    """`?days=` of a JSON source: 1-90 (None when it is not)."""
    raw = request.GET.get("days", str(DEFAULT_DAYS))
    return int(raw) if raw.isdigit() and 1 <= int(raw) <= MAX_DAYS else None


def _bad_days() -> JsonResponse:
    fields = {"days": [f"A whole number of days, 1-{MAX_DAYS}."]}
    return JsonResponse(error_body(400, "Invalid days.", fields), status=400)


def _url(path: str, **query) -> str:
    return f"{path}?{urlencode(query)}" if query else path


def _api(route: str, **query) -> str:
    return _url(f"/api/v1/analytics/{route}", **query)


def _downloads(url: str) -> dict:
    joiner = "&" if "?" in url else "?"
    return {"csv": f"{url}{joiner}format=csv", "json": f"{url}{joiner}format=json"}


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def _window(days: int, now: datetime | None) -> tuple[datetime, datetime]:
    """From the midnight `days - 1` days back to now (to the microsecond: the API links
    name the same `to`, and nothing recorded this very second is left out)."""
    until = now or timezone.now()
    return until.replace(hour=0, minute=0, second=0, microsecond=0) - (days - 1) * DAY, until


def _lines(rows: list[dict], days: list[datetime], by, value, order) -> list[dict]:
    """One line per value of `by(row)` over `days` (`value(rows of a day)`), the TOP_SERIES
    first by `order(rows)`, the rest summed into one "Other" line (for sums only)."""
    grouped: dict[str, list[dict]] = {}
    for row in rows:
        grouped.setdefault(by(row), []).append(row)
    names = sorted(grouped, key=lambda name: (-order(grouped[name]), name))
    if len(names) > TOP_SERIES + 1:
        rest = names[TOP_SERIES:]
        grouped = {name: grouped[name] for name in names[:TOP_SERIES]} | {
            f"Other ({len(rest)})": [row for name in rest for row in grouped[name]]
        }
        names = [*names[:TOP_SERIES], f"Other ({len(rest)})"]
    lines = []
    for name in names:
        per_day: dict[datetime, list[dict]] = {}
        for row in grouped[name]:
            per_day.setdefault(row["day"], []).append(row)
        lines.append({"label": name, "values": [value(per_day.get(day, [])) for day in days]})
    return lines


def _cost(rows: list[dict]) -> float:
    return round(sum(row["estimated_cost_usd"] for row in rows), 6)


def _requests(rows: list[dict]) -> int:
    return sum(row["requests"] for row in rows)


def _share(part: str, whole: str):
    def rate(rows: list[dict]) -> float | None:
        total = sum(row[whole] for row in rows)
        return round(100 * sum(row[part] for row in rows) / total, 2) if total else None

    return rate


def _model(row: dict) -> str:
    return row["model"] or "(no model)"


def _feature(row: dict) -> str:
    return row["feature"]


def _assistant(row: dict) -> str:
    return row["assistant_name"] or (str(row["assistant_id"]) if row["assistant_id"] else "(none)")


def _series_chart(key: str, heading: str, unit: str, series: list[tuple[str, str, dict]]) -> dict:
    """A chart of ai.* metric time series (same buckets: fill=null over the same window)."""
    lines, apis = [], []
    x: list[float] = []
    samples = 0
    for label, name, query in series:
        answer = metric_time_series(
            name=name,
            interval=query["interval"],
            agg=query["agg"],
            since=query["since"],
            until=query["until"],
            fill="null",
        )
        x = [bucket["start"].timestamp() for bucket in answer["buckets"]]
        samples += sum(bucket["count"] for bucket in answer["buckets"])
        lines.append({"label": label, "values": [b["value"] for b in answer["buckets"]]})
        api = _api(
            f"metrics/{name}/time-series",
            **{"from": _iso(query["since"]), "to": _iso(query["until"])},
            interval=query["interval"],
            agg=query["agg"],
            fill="null",
        )
        apis.append({"label": label, "url": api, **_downloads(api)})
    return _chart(key, heading, unit, x, lines, samples, apis)


def _chart(
    key: str, heading: str, unit: str, x: list, lines: list, samples: int, sources: list
) -> dict:
    """One chart as ai.js draws it."""
    return {
        "key": key,
        "heading": heading,
        "unit": unit,
        "x": x,
        "series": lines,
        "samples": samples,
        "sources": sources,
    }


def page_data(*, days: int, now: datetime | None = None) -> dict:
    """Everything the page draws for a window of `days` (today's so far included)."""
    since, until = _window(days, now)
    day_starts = [since + i * DAY for i in range(days)]
    rows = usage_per_day(days=days, now=until)
    x = [day.timestamp() for day in day_starts]
    daily = _url(reverse("console:ai-daily"), days=days)
    daily_source = [{"label": "Usage per day", "url": daily, **_downloads(daily)}]
    samples = _requests(rows)

    def chart(key: str, heading: str, unit: str, lines: list[dict]) -> dict:
        return _chart(key, heading, unit, x, lines, samples, daily_source)

    # Lines ordered by cost; by requests when no usage has a price.
    by_cost = _cost if any(row["estimated_cost_usd"] for row in rows) else _requests
    success = _share("successes", "requests")
    cache = _share("cache_hits", "cache_known")
    api_hours = min(days * 24, MAX_API_HOURS)
    speed = {"interval": "1d", "since": since, "until": until}
    charts = [
        chart(
            "cost_by_model",
            "Cost per day by model",
            "USD",
            _lines(rows, day_starts, _model, _cost, by_cost),
        ),
        chart(
            "cost_by_assistant",
            "Cost per day by assistant",
            "USD",
            _lines(rows, day_starts, _assistant, _cost, by_cost),
        ),
        chart(
            "requests_by_feature",
            "Requests per day by feature",
            "requests",
            _lines(rows, day_starts, _feature, _requests, _requests),
        ),
        chart(
            "success_by_feature",
            "Success rate per day by feature",
            "%",
            _lines(rows, day_starts, _feature, success, _requests),
        ),
        {
            **chart(
                "cache_hit_rate",
                "Cache hit rate per day",
                "%",
                _lines(rows, day_starts, lambda row: "Cache hits", cache, _requests),
            ),
            # Only the requests that said whether the cache served them count.
            "samples": sum(row["cache_known"] for row in rows),
        },
        _series_chart(
            "ttft",
            "Time to first token per day",
            "ms",
            [("p50", TTFT, {**speed, "agg": "p50"}), ("p95", TTFT, {**speed, "agg": "p95"})],
        ),
        _series_chart(
            "tokens_per_second",
            "Output tokens per second per day",
            "tok/s",
            [("Average", TOKENS_PER_SECOND, {**speed, "agg": "avg"})],
        ),
    ]
    features_api = _api("ai-features", hours=api_hours)
    ttft_api = _api("ttft", hours=api_hours)
    trending_api = _api("trending", limit=TRENDING_LIMIT)
    freshness_api = _api("freshness")
    known = sum(row["cache_known"] for row in rows)
    return {
        "days": days,
        "since": since,
        "until": until,
        "totals": {
            "requests": samples,
            "cost_usd": _cost(rows),
            "success_rate": success(rows),
            "cache_hit_rate": cache(rows),
            "cache_known": known,
            "unpriced_tokens": sum(row["unpriced_tokens"] for row in rows),
            "tokens": sum(row["tokens_in"] + row["tokens_out"] for row in rows),
        },
        "charts": charts,
        "features": {
            "hours": api_hours,
            "rows": feature_stats(hours=api_hours, now=until),
            "api": features_api,
            **_downloads(features_api),
        },
        "ttft": {
            **ttft_percentiles(hours=api_hours, now=until),
            "api": ttft_api,
            **_downloads(ttft_api),
        },
        "trending": {
            "rows": trending_topics(limit=TRENDING_LIMIT),
            "api": trending_api,
            **_downloads(trending_api),
        },
        "freshness": {
            "rows": document_freshness(now=until),
            "api": freshness_api,
            **_downloads(freshness_api),
        },
        "generated_at": until,
    }


@console_page("ai")
def ai_page(request: HttpRequest) -> HttpResponse:
    days = page_days(request)
    config = {
        "days": days,
        "data": _url(reverse("console:ai-data"), days=days),
        "refresh_seconds": REFRESH_SECONDS,
    }
    windows = [
        {"days": n, "url": _url(reverse("console:ai"), days=n), "current": n == days}
        for n in WINDOWS
    ]
    return render(
        request,
        "console/ai.html",
        context(request, page_named("ai"), config=config, windows=windows, days=days),
    )


@console_data
def ai_data(request: HttpRequest) -> JsonResponse:
    require_panel(request.user, "ai")
    days = source_days(request)
    if days is None:
        return _bad_days()
    return JsonResponse(page_data(days=days), encoder=DjangoJSONEncoder)


@console_data
def ai_daily(request: HttpRequest) -> HttpResponse:
    """Usage per day, assistant, model and feature (usage_per_day): JSON, or one CSV row
    each with `format=csv`."""
    require_panel(request.user, "ai")
    days = source_days(request)
    if days is None:
        return _bad_days()
    since, until = _window(days, None)
    rows = usage_per_day(days=days, now=until)
    if request.GET.get("format") == "csv":
        response = HttpResponse(content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f"attachment; filename=ai-usage-per-day-{days}d.csv"
        lines = table(flatten(rows)) or [list(DAILY_COLUMNS)]
        out = io.StringIO()
        csv_write(out, lines)
        response.write(out.getvalue())
        return response
    body = {"days": days, "since": since, "until": until, "rows": rows}
    return JsonResponse(body, encoder=DjangoJSONEncoder)
