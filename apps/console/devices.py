"""The Devices page: the devices heard from most recently, and a device's page with its
state timeline (time in each state, as GET /api/v1/metrics/device-state-history/<id>
answers) and its stored metrics over time. Thin: the figures come from
apps.devices.selectors."""

import io
import json
from urllib.parse import quote, urlencode

from django.core.exceptions import PermissionDenied
from django.core.serializers.json import DjangoJSONEncoder
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.urls import reverse

from apps.core.renderers import csv_write, flatten, table
from apps.devices import selectors

from .pages import allowed, console_data, console_page, context, page_named

HISTORY_API = "/api/v1/metrics/device-state-history/"
# URL value -> hours; the history API allows up to 720 h.
WINDOWS: dict[str, int] = {"1h": 1, "6h": 6, "24h": 24, "7d": 168, "30d": 720}
DEFAULT_WINDOW = "24h"


def window_of(request: HttpRequest) -> str:
    window = request.GET.get("window", DEFAULT_WINDOW)
    return window if window in WINDOWS else DEFAULT_WINDOW


def history_api(device_id: str, hours: int) -> str:
    return f"{HISTORY_API}{quote(device_id, safe='')}?{urlencode({'hours': hours})}"


@console_page("devices")
def device_list(request: HttpRequest) -> HttpResponse:
    devices = selectors.recent_devices()
    for device in devices:
        device["url"] = reverse("console:device", args=[device["device_id"]])
    return render(
        request,
        "console/devices.html",
        context(
            request,
            page_named("devices"),
            devices=devices,
            list_json=reverse("console:device-list-data"),
        ),
    )


@console_page("devices")
def device_page(request: HttpRequest, device_id: str) -> HttpResponse:
    window = window_of(request)
    hours = WINDOWS[window]
    history = selectors.device_state_history(device_id=device_id, hours=hours)
    metrics = selectors.device_metric_series(device_id=device_id, hours=hours)
    metrics_data = reverse("console:device-metrics-data", args=[device_id])
    config = {
        "device_id": device_id,
        "window": window,
        "history": history,
        "history_api": history_api(device_id, hours),
        "metrics": metrics,
        "metrics_api": f"{metrics_data}?{urlencode({'hours': hours})}",
    }
    page = page_named("devices")
    return render(
        request,
        "console/device.html",
        context(
            request,
            page,
            title=f"Device {device_id}",
            device_id=device_id,
            window=window,
            windows=list(WINDOWS),
            config=config,
            devices_url=reverse("console:devices"),
        ),
    )


def _answer(request: HttpRequest, data: dict | list, name: str) -> HttpResponse:
    """The console source as JSON, or `?format=csv`: the same answer flattened as the
    API's CSV is (apps.core.renderers), every cell neutralised."""
    if request.GET.get("format") == "csv":
        out = io.StringIO()
        csv_write(out, table(flatten(json.loads(DjangoJSONEncoder().encode(data)))))
        response = HttpResponse(out.getvalue(), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="{name}.csv"'
        return response
    return JsonResponse(data, encoder=DjangoJSONEncoder, safe=False)


def _require(request: HttpRequest) -> None:
    if not allowed(request.user, page_named("devices").permission):
        raise PermissionDenied("the devices page needs devices.view_devicestatehistory")


@console_data
def device_list_data(request: HttpRequest) -> HttpResponse:
    _require(request)
    return _answer(request, selectors.recent_devices(), "devices")


@console_data
def device_metrics_data(request: HttpRequest, device_id: str) -> HttpResponse:
    _require(request)
    try:
        hours = int(request.GET.get("hours", WINDOWS[DEFAULT_WINDOW]))
    except ValueError:
        hours = WINDOWS[DEFAULT_WINDOW]
    hours = min(max(hours, 1), max(WINDOWS.values()))
    data = selectors.device_metric_series(device_id=device_id, hours=hours)
    return _answer(request, data, f"device-{device_id}-metrics")
