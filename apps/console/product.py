"""The Product page: active users over time, weekly retention cohorts, top users, popular
scenarios and the platform's daily trends; and one user's page (tracked periods, latest
events). Thin: every figure comes from the selector its public JSON endpoint calls, with
the same arguments, answered through the same serializer, and each part carries that
request (`api`) so the page links to it (as JSON and CSV) and a test can compare them.
"""

from collections.abc import Callable
from urllib.parse import quote, urlencode

from django.core.exceptions import PermissionDenied
from django.core.serializers.json import DjangoJSONEncoder
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.urls import reverse

from apps.events.selectors import event_list
from apps.events.serializers import EventOut
from apps.insights import selectors as insights
from apps.insights import serializers as insights_io
from apps.insights.periods import PeriodType
from apps.usage import selectors as usage
from apps.usage import serializers as usage_io

from .pages import allowed, console_data, console_page, context, page_named

API = "/api/v1/analytics"
PAGE = "product"
# The window choices the page offers (any value the API accepts works in the URL).
WINDOWS = (7, 30, 90, 365)
COHORT_WEEKS = (4, 8, 12, 26)
TOP_USERS = 10
TOP_SCENARIOS = 10
USER_EVENTS = 50
USER_PERIODS = 30
REFRESH_SECONDS = 300  # daily figures: read again every 5 minutes


def _api(path: str, **query) -> str:
    """The public request answering the same figures."""
    return f"{API}/{path}?{urlencode(query)}" if query else f"{API}/{path}"


def _valid(query: type, name: str, value: str | None):
    """`value` as the API's own query serializer reads it; its default when absent or not
    valid (a mistyped link still opens the page, with the default window)."""
    asked = query(data={} if value is None else {name: value})
    if not asked.is_valid():
        asked = query(data={})
        asked.is_valid(raise_exception=True)
    return asked.validated_data[name]


def window(request: HttpRequest) -> dict:
    """The page's window: `days` (the active-user series, top users, scenarios and the
    platform's trends) and `weeks` (retention cohorts), from the URL."""
    return {
        "days": _valid(usage_io.ActiveUsersQuery, "days", request.GET.get("days")),
        "weeks": _valid(usage_io.RetentionQuery, "weeks", request.GET.get("weeks")),
    }


def _require(request: HttpRequest) -> None:
    page = page_named(PAGE)
    if not allowed(request.user, page.permission):
        raise PermissionDenied(f"the product page needs {page.permission}")


# --- the page's parts: (days, weeks) -> {"api": request, "answer": its answer}


def active_part(days: int, weeks: int) -> dict:
    found = usage.active_users(days=days)
    return {
        "api": _api("users/active", days=days),
        "answer": usage_io.ActiveUsersOut(found).data,
    }


def retention_part(days: int, weeks: int) -> dict:
    found = usage.retention(weeks=weeks)
    return {
        "api": _api("users/retention", weeks=weeks),
        "answer": usage_io.RetentionOut(found).data,
    }


def top_users_part(days: int, weeks: int) -> dict:
    found = usage.top_users(limit=TOP_USERS, days=days)
    return {
        "api": _api("top-users", limit=TOP_USERS, days=days),
        "answer": usage_io.TopUserOut(found, many=True).data,
    }


def scenarios_part(days: int, weeks: int) -> dict:
    found = usage.popular_scenarios(limit=TOP_SCENARIOS, days=days)
    return {
        "api": _api("popular-scenarios", limit=TOP_SCENARIOS, days=days),
        "answer": usage_io.ScenarioOut(found, many=True).data,
    }


def platform_part(days: int, weeks: int) -> dict:
    """The insights dashboard's figures the page draws: now (users, contracts, money in
    the window) and the tracked days of the window."""
    answer = insights_io.DashboardOut(insights.dashboard(days=days)).data
    return {
        "api": _api("dashboard", days=days),
        "answer": {key: answer[key] for key in ("current_metrics", "trends", "days")},
    }


PARTS: dict[str, Callable[[int, int], dict]] = {
    "active": active_part,
    "retention": retention_part,
    "top-users": top_users_part,
    "scenarios": scenarios_part,
    "platform": platform_part,
}


def user_part(user_id: str, period_type: str) -> dict:
    """One user's tracked periods (as GET .../user/<id>/trends answers them) and latest
    events (GET .../events?user_id=<id>, its first page)."""
    periods = insights.user_periods(user_id=user_id, period_type=period_type, periods=USER_PERIODS)
    events = event_list(user_id=user_id).order_by("-timestamp", "-id")[:USER_EVENTS]
    return {
        "user_id": user_id,
        "periods": {
            "api": _api(
                f"user/{quote(user_id, safe='')}/trends",
                period_type=period_type,
                periods=USER_PERIODS,
            ),
            "answer": insights_io.UserAnalyticsOut(periods, many=True).data,
        },
        "events": {
            "api": _api("events", user_id=user_id, page_size=USER_EVENTS),
            "answer": EventOut(events, many=True).data,
        },
    }


def _period_type(request: HttpRequest) -> str:
    value = request.GET.get("period_type", PeriodType.DAY)
    return value if value in PeriodType.values else PeriodType.DAY


# --- views


@console_page(PAGE)
def product(request: HttpRequest) -> HttpResponse:
    asked = window(request)
    query = urlencode(asked)
    config = {
        **asked,
        "sources": {key: f"{reverse('console:product-data', args=[key])}?{query}" for key in PARTS},
        "user_url": reverse("console:product-user", args=["USER_ID"]),
        "refresh_seconds": REFRESH_SECONDS,
    }
    return render(
        request,
        "console/product.html",
        context(
            request,
            page_named(PAGE),
            config=config,
            windows=_choices(WINDOWS, asked["days"]),
            cohort_weeks=_choices(COHORT_WEEKS, asked["weeks"]),
            **asked,
        ),
    )


def _choices(offered: tuple[int, ...], current: int) -> list[int]:
    return sorted({*offered, current})


@console_data
def product_data(request: HttpRequest, key: str) -> JsonResponse:
    _require(request)
    if key not in PARTS:
        raise Http404(f"no part {key!r}")
    asked = window(request)
    return JsonResponse(PARTS[key](asked["days"], asked["weeks"]), encoder=DjangoJSONEncoder)


@console_page(PAGE)
def product_user(request: HttpRequest, user_id: str) -> HttpResponse:
    period_type = _period_type(request)
    source = reverse("console:product-user-data")
    config = {
        "user_id": user_id,
        "period_type": period_type,
        "source": f"{source}?{urlencode({'user_id': user_id, 'period_type': period_type})}",
    }
    page = page_named(PAGE)
    return render(
        request,
        "console/product_user.html",
        context(
            request,
            page,
            title=f"User {user_id}",
            config=config,
            user_id=user_id,
            period_type=period_type,
            period_types=PeriodType.values,
            product_url=reverse(page.url_name),
        ),
    )


@console_data
def product_user_data(request: HttpRequest) -> JsonResponse:
    _require(request)
    user_id = request.GET.get("user_id", "")
    if not user_id or len(user_id) > 255:
        raise Http404("no such user")
    return JsonResponse(user_part(user_id, _period_type(request)), encoder=DjangoJSONEncoder)
