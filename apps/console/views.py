"""The console's pages and their JSON sources: thin, the figures come from selectors."""

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.urls import reverse

from . import selectors
from .pages import console_data, console_page, context, page_named, panels_for, require_panel

# The page polls its live JSON this often when the WebSocket feed cannot be reached.
POLL_SECONDS = 12
# The charts of 24 h move slowly: read again this often.
REFRESH_SECONDS = 60


@console_page("overview")
def overview(request: HttpRequest) -> HttpResponse:
    panels = panels_for(request.user)
    config = {
        "panels": {key: reverse("console:panel", args=[key]) for key in panels},
        "ws_port": settings.WS_PORT,
        "poll_seconds": POLL_SECONDS,
        "refresh_seconds": REFRESH_SECONDS,
    }
    return render(
        request,
        "console/overview.html",
        context(request, page_named("overview"), panels=panels, config=config),
    )


@console_data
def panel(request: HttpRequest, key: str) -> JsonResponse:
    require_panel(request.user, key)
    return JsonResponse(selectors.panel(key), encoder=DjangoJSONEncoder)
