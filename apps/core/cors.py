"""Cross-origin writes for the endpoints browser SDKs post to from other sites (posthog-js,
the Sentry browser SDK): every answer carries CORS headers and a preflight is answered
without a key. No cookie is ever read by these endpoints (their key travels in the body,
the query or a header), so `Access-Control-Allow-Origin: *` opens nothing."""

import re

from django.http import HttpResponse

CORS_HEADERS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "POST, OPTIONS",
    "Access-Control-Max-Age": "86400",
}
_HEADER_NAMES = re.compile(r"[A-Za-z0-9\-]+(?:\s*,\s*[A-Za-z0-9\-]+)*")
DEFAULT_ALLOWED_HEADERS = "Content-Type, Content-Encoding"


def preflight(request) -> HttpResponse:
    """The answer to an OPTIONS preflight: the headers asked for, when they are names."""
    response = HttpResponse(status=200)
    for name, value in CORS_HEADERS.items():
        response[name] = value
    asked = request.META.get("HTTP_ACCESS_CONTROL_REQUEST_HEADERS", "")[:500]
    response["Access-Control-Allow-Headers"] = (
        asked if _HEADER_NAMES.fullmatch(asked.strip()) else DEFAULT_ALLOWED_HEADERS
    )
    return response


class CrossOriginWrites:
    """A DRF view mixin: preflights answered before any key is asked for, and the CORS
    headers on every answer, errors included."""

    http_method_names = ["post", "options"]

    def dispatch(self, request, *args, **kwargs):
        if request.method == "OPTIONS":  # a CORS preflight carries no key
            return preflight(request)
        return super().dispatch(request, *args, **kwargs)

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        for name, value in CORS_HEADERS.items():
            response[name] = value
        return response
