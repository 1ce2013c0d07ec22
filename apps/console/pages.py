"""The console's pages and the overview's panels, each with the view permission it needs.

One map: the nav lists a page only to staff holding its permission, its view answers
403 to the others (`console_page`), and a panel of the overview (with its JSON source)
is drawn only for those who may see the app it comes from. A new page declares its
entry here and decorates its view with `console_page("<key>")`.
"""

from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse

from apps.core.replica import on_replica


@dataclass(frozen=True)
class Page:
    key: str
    title: str
    url_name: str | None  # None: not built yet, so not listed
    permission: str | None  # None: every staff member


PAGES: tuple[Page, ...] = (
    Page("overview", "Overview", "console:overview", None),
    Page("metrics", "Metrics", "console:metrics", "metrics.view_metricpoint"),
    Page("uptime", "Uptime", "console:uptime", "monitoring.view_monitoredservice"),
    # The admin's own incident pages (chart and buttons: apps/alerts/admin.py).
    Page(
        "incidents",
        "Incidents",
        "admin:alerts_alertincident_changelist",
        "alerts.view_alertincident",
    ),
    Page("errors", "Errors", "console:errors", "errors.view_errorlog"),
    Page("devices", "Devices", "console:devices", "devices.view_devicestatehistory"),
    Page("ai", "AI", "console:ai", "ai.view_aiusage"),
    Page("product", "Product", "console:product", "insights.view_useranalytics"),
)

# The overview's panels: key -> the permission of the app whose figures it shows.
PANELS: dict[str, str | None] = {
    "live": None,  # the live feed's figures: every staff session may watch the feed
    "ingest": None,  # the feed's ingest rates over the last hours (beat's counters)
    "host": "monitoring.view_monitoredservice",
    "traffic": "requestlog.view_apirequestlog",
    "incidents": "alerts.view_alertincident",
    "services": "monitoring.view_monitoredservice",
    "ai": "ai.view_aiusage",
    "users": "events.view_event",
}


def page_named(key: str) -> Page:
    return next(page for page in PAGES if page.key == key)


def allowed(user, permission: str | None) -> bool:
    """Staff (the admin's own rule) holding `permission`, if there is one."""
    if not (user.is_active and user.is_staff):
        return False
    return permission is None or user.has_perm(permission)


def nav(user, current: str) -> list[dict]:
    """The pages this user may open, in order, with the current one marked."""
    return [
        {"title": page.title, "url": reverse(page.url_name), "current": page.key == current}
        for page in PAGES
        if page.url_name is not None and allowed(user, page.permission)
    ]


def panels_for(user) -> list[str]:
    return [key for key, permission in PANELS.items() if allowed(user, permission)]


def context(request: HttpRequest, page: Page, **extra) -> dict:
    """What every console template needs: the admin's own context (branding, user
    links, "View site"), the nav, the page's title."""
    return {
        **admin.site.each_context(request),
        "title": page.title,
        "nav": nav(request.user, page.key),
        "is_nav_sidebar_enabled": False,
        **extra,
    }


def console_page(key: str) -> Callable:
    """A console page's view: the admin's sign-in (anyone else is sent to its login
    form), then the page's permission as the map says it (403 without it)."""
    page_named(key)  # a page missing from the map fails at import, not at a request

    def decorate(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @wraps(view)
        def guarded(request: HttpRequest, *args, **kwargs) -> HttpResponse:
            page = page_named(key)
            if not allowed(request.user, page.permission):
                return render(request, "console/forbidden.html", context(request, page), status=403)
            return view(request, *args, **kwargs)

        return admin.site.admin_view(guarded)

    return decorate


def console_data(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """A JSON source of the console: the admin's sign-in; the panel's permission is
    checked by the view (403 as JSON through the project's handler). A GET reads on the
    replica when DATABASE_REPLICA_URL names one (the sign-in is checked before)."""

    @wraps(view)
    def read(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if request.method not in ("GET", "HEAD"):
            return view(request, *args, **kwargs)
        with on_replica():
            return view(request, *args, **kwargs)

    return admin.site.admin_view(read)


def require_panel(user, key: str) -> None:
    if key not in PANELS:
        raise Http404(f"no panel {key!r}")
    if not allowed(user, PANELS[key]):
        raise PermissionDenied(f"the {key} panel needs {PANELS[key]}")
