"""The Errors page: counts over time by category and by severity, the latest errors with
their context, and resolve / reopen. Thin: the figures come from apps.errors.selectors
(the functions GET /api/v1/metrics/error-trends answers with, same arguments), the
triage goes through apps.errors.services (as the admin's actions)."""

from datetime import datetime
from urllib.parse import urlencode

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from apps.core.windows import parse_interval
from apps.errors import selectors, services
from apps.errors.models import ErrorCategory, Severity

from .pages import console_page, context, page_named

TRENDS_API = "/api/v1/metrics/error-trends"
RESOLVE_PERMISSION = "errors.change_errorlog"
# The window choices: URL value -> (hours, bucket width). The API allows up to 168 h.
WINDOWS: dict[str, tuple[int, str]] = {
    "1h": (1, "5m"),
    "6h": (6, "15m"),
    "24h": (24, "1h"),
    "7d": (168, "6h"),
}
DEFAULT_WINDOW = "24h"


def filters_of(request: HttpRequest) -> dict:
    """The page's filters from its URL; an unknown value is the default (all)."""
    window = request.GET.get("window", DEFAULT_WINDOW)
    category = request.GET.get("category") or None
    severity = request.GET.get("severity") or None
    return {
        "window": window if window in WINDOWS else DEFAULT_WINDOW,
        "category": category if category in ErrorCategory.values else None,
        "severity": severity if severity in Severity.values else None,
    }


def trends_api(hours: int, interval: str | None = None, **filters) -> str:
    """The public request answering the same numbers (JSON; `&format=csv` for CSV)."""
    query: dict = {"hours": hours}
    if interval:
        query.update(interval=interval, fill="zero")
    query.update({k: v for k, v in filters.items() if v})
    return f"{TRENDS_API}?{urlencode(query)}"


def page_data(filters: dict, *, now: datetime | None = None) -> dict:
    """Totals, one line per category and one per severity (each the `series` of the
    trend API asked with that category or severity, within the page's filters), and
    the latest errors."""
    now = now or timezone.now()
    hours, interval_text = WINDOWS[filters["window"]]
    interval = parse_interval(interval_text)
    category, severity = filters["category"], filters["severity"]
    # One read of the window's rows answers the totals and both charts.
    overall = selectors.error_breakdown(
        hours=hours, interval=interval, category=category, severity=severity, now=now
    )
    charts = {}
    for key, field, values in (
        ("by_category", "category", ErrorCategory.values),
        ("by_severity", "severity", Severity.values),
    ):
        # Each line is what the trend API answers for its value.
        series = overall["series"][field]
        order = [v for v in values if v in series] + sorted(set(series) - set(values))
        lines = []
        for value in order:
            line_filters = {"category": category, "severity": severity, field: value}
            buckets = series[value]
            lines.append(
                {
                    "label": value,
                    "total": sum(b["count"] or 0 for b in buckets),
                    "api": trends_api(hours, interval_text, **line_filters),
                    "points": [[b["start"].timestamp(), b["count"]] for b in buckets],
                }
            )
        charts[key] = lines
    return {
        "window": filters["window"],
        "hours": hours,
        "interval": interval_text,
        "total_errors": overall["total_errors"],
        "unresolved_count": overall["unresolved_count"],
        "by_category": overall["by_category"],
        "by_severity": overall["by_severity"],
        "api": trends_api(hours, interval_text, category=category, severity=severity),
        "charts": charts,
        "latest": selectors.latest_errors(
            hours=hours, category=category, severity=severity, now=now
        ),
        "generated_at": now,
    }


@console_page("errors")
def errors_page(request: HttpRequest) -> HttpResponse:
    filters = filters_of(request)
    data = page_data(filters)
    config = {
        "window": data["window"],
        "interval": data["interval"],
        "charts": data["charts"],
        "api": data["api"],
    }
    return render(
        request,
        "console/errors.html",
        context(
            request,
            page_named("errors"),
            data=data,
            config=config,
            filters=filters,
            windows=list(WINDOWS),
            categories=ErrorCategory.values,
            severities=Severity.values,
            can_resolve=request.user.has_perm(RESOLVE_PERMISSION),
            here=request.get_full_path(),
        ),
    )


def _back(request: HttpRequest) -> HttpResponseRedirect:
    target = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        target = reverse("console:errors")
    return HttpResponseRedirect(target)


@require_POST
@console_page("errors")
def resolve(request: HttpRequest, error_id: int) -> HttpResponse:
    if not request.user.has_perm(RESOLVE_PERMISSION):
        raise PermissionDenied(f"resolving errors needs {RESOLVE_PERMISSION}")
    n = services.errors_resolve(
        errors=selectors.errors_with_ids([error_id]),
        resolved_by=request.user.get_username(),
        notes=request.POST.get("notes", "").strip(),
    )
    if n:
        messages.success(request, f"Error {error_id} marked resolved.")
    else:
        messages.warning(request, f"Error {error_id} was already resolved (or is gone).")
    return _back(request)


@require_POST
@console_page("errors")
def reopen(request: HttpRequest, error_id: int) -> HttpResponse:
    if not request.user.has_perm(RESOLVE_PERMISSION):
        raise PermissionDenied(f"reopening errors needs {RESOLVE_PERMISSION}")
    n = services.errors_reopen(errors=selectors.errors_with_ids([error_id]))
    if n:
        messages.success(request, f"Error {error_id} reopened.")
    else:
        messages.warning(request, f"Error {error_id} was not resolved (or is gone).")
    return _back(request)
