"""The Uptime page: every monitored service's status and uptime over 24 h / 7 d / 30 d with
its 90 daily bars (compact), and a service's page: 90 daily bars coloured by uptime (grey:
no data), the response-time chart, the downtimes with their durations, the 30-day SLA
against its target with the error budget left, and a heartbeat's latest pings.

Thin: every figure comes from apps.monitoring's selectors, called with the arguments of
the public API request each part names (GET /api/v1/analytics/monitoring/uptime,
services/<id>/uptime, /response-times, /pings), and serialized by that API's own
serializers, so the page and the API answer agree. The page's JSON sources answer the
same thing the page draws (for its refresh and for tests).
"""

from datetime import date, timedelta
from urllib.parse import urlencode

from django.core.exceptions import PermissionDenied
from django.core.serializers.json import DjangoJSONEncoder
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone

from apps.core.api import get_or_404, validated
from apps.monitoring import selectors
from apps.monitoring import serializers as io
from apps.monitoring.models import MonitoredService

from .pages import allowed, console_data, console_page, context, page_named

API = "/api/v1/analytics/monitoring/"
# The response-time chart's windows: URL value -> hours (the API's `hours`).
WINDOWS: dict[str, int] = {"24h": 24, "7d": 168, "30d": 720}
DEFAULT_WINDOW = "24h"
PINGS = 50
REFRESH_SECONDS = 60


def window_of(request: HttpRequest) -> str:
    window = request.GET.get("window", DEFAULT_WINDOW)
    return window if window in WINDOWS else DEFAULT_WINDOW


def _url(path: str, **query) -> str:
    return f"{path}?{urlencode(query)}" if query else path


def _downloads(url: str) -> dict:
    joiner = "&" if "?" in url else "?"
    return {"api": url, "json": f"{url}{joiner}format=json", "csv": f"{url}{joiner}format=csv"}


def _service(service_id: int) -> MonitoredService:
    """The service, or 404 (also for an id beyond bigint)."""
    return get_or_404(selectors.service_list(), service_id)


def _require(request: HttpRequest) -> None:
    page = page_named("uptime")
    if not allowed(request.user, page.permission):
        raise PermissionDenied(f"the uptime page needs {page.permission}")


# --- the list


def list_data(*, now=None) -> dict:
    """Every monitored service as GET .../monitoring/uptime answers it (status, 24 h /
    7 d / 30 d), with its daily uptime over UPTIME_DAYS days, compact: the first day's
    date, then per day [uptime %, seconds down, downtimes] (uptime None: no data)."""
    now = now or timezone.now()
    services = list(selectors.service_list().order_by("name"))
    states = selectors.service_states(services=services, now=now)
    windows = selectors.uptime_windows(services=services, now=now)
    days = selectors.uptime_days(services=services, now=now)
    first: date | None = None
    rows = []
    for service in services:
        row = days[service.pk]
        first = first or row[0].date
        rows.append(
            {
                "id": service.pk,
                "name": service.name,
                "check_type": service.check_type,
                "status": states[service.pk],
                "enabled": service.enabled,
                "public": service.public,
                "sla_target": service.sla_target,
                "uptime": windows[service.pk],
                "days": [[d.uptime_percentage, d.downtime_seconds, d.downtime_count] for d in row],
                "url": reverse("console:uptime-service", args=[service.pk]),
            }
        )
    return {
        "generated_at": now,
        "days": selectors.UPTIME_DAYS,
        "first_day": first,
        "services": rows,
        "source": _downloads(f"{API}uptime"),
    }


@console_page("uptime")
def uptime_list(request: HttpRequest) -> HttpResponse:
    config = {
        **list_data(),
        "data_url": reverse("console:uptime-data"),
        "create_api": f"{API}services",
        "admin_add": reverse("admin:monitoring_monitoredservice_add"),
        "refresh_seconds": REFRESH_SECONDS,
    }
    return render(
        request,
        "console/uptime.html",
        context(request, page_named("uptime"), config=config),
    )


@console_data
def uptime_list_data(request: HttpRequest) -> JsonResponse:
    _require(request)
    return JsonResponse(list_data(), encoder=DjangoJSONEncoder)


# --- a service


def service_data(service: MonitoredService, *, hours: int) -> dict:
    """A service's page: GET .../services/<id>/uptime, .../response-times?hours= (the
    API's default bucket for that window) and, for a heartbeat, .../pings, each as that
    request answers it, with the URL of the request."""
    uptime = io.ServiceUptimeOut(selectors.service_uptime(service=service)).data
    query = validated(io.ResponseTimeQuery, {"hours": hours})
    until = timezone.now()
    since = until - timedelta(hours=query["hours"])
    points = selectors.response_time_series(
        service=service, since=since, until=until, interval_seconds=query["interval_seconds"]
    )
    times = io.ResponseTimesOut(
        {
            "service_id": service.pk,
            "since": since,
            "until": until,
            "interval_seconds": query["interval_seconds"],
            "points": points,
        }
    ).data
    base = f"{API}services/{service.pk}"
    data = {
        "id": service.pk,
        "name": service.name,
        "check_type": service.check_type,
        "enabled": service.enabled,
        "interval_seconds": service.interval_seconds,
        "grace_seconds": service.grace_seconds,
        "hours": hours,
        "uptime": uptime,
        "uptime_source": _downloads(f"{base}/uptime"),
        "response_times": times,
        "response_times_source": _downloads(_url(f"{base}/response-times", hours=hours)),
        "sla_source": _downloads(_url(f"{API}sla/{service.name}", hours=720)),
        "pings": None,
    }
    if service.check_type == "heartbeat":
        pings = selectors.heartbeat_pings(service=service, limit=PINGS)
        data["pings"] = io.PingsOut(
            {"service_id": service.pk, "last_ping_at": service.last_ping_at, "pings": pings}
        ).data
        data["pings_source"] = _downloads(_url(f"{base}/pings", limit=PINGS))
    return data


def _hours(request: HttpRequest) -> int:
    return WINDOWS[window_of(request)]


@console_page("uptime")
def uptime_service(request: HttpRequest, service_id: int) -> HttpResponse:
    service = _service(service_id)
    window = window_of(request)
    config = {
        **service_data(service, hours=WINDOWS[window]),
        "data_url": _url(reverse("console:uptime-service-data", args=[service.pk]), window=window),
        "refresh_seconds": REFRESH_SECONDS,
    }
    return render(
        request,
        "console/uptime_service.html",
        context(
            request,
            page_named("uptime"),
            title=f"Uptime of {service.name}",
            service=service,
            window=window,
            windows=list(WINDOWS),
            config=config,
            list_url=reverse("console:uptime"),
            admin_url=reverse("admin:monitoring_monitoredservice_change", args=[service.pk]),
            status_url=reverse("status") if service.public and service.enabled else None,
        ),
    )


@console_data
def uptime_service_data(request: HttpRequest, service_id: int) -> JsonResponse:
    _require(request)
    service = _service(service_id)
    return JsonResponse(service_data(service, hours=_hours(request)), encoder=DjangoJSONEncoder)
