"""PostHog's capture and flags endpoints, at this service's root (the SDKs' `host`).

The project key travels in the body (`api_key`, or `token` in the properties): it is an
ingest key here, checked by the same functions, failure budget and answers as a key in a
header (401 missing or unknown, 429 after too many failures from one address, 403 for a
read or admin key), then the ingest rate limit applies. posthog-js calls these from other
origins: apps.core.cors.CrossOriginWrites.
"""

import base64
import re
import uuid

import orjson
from django.http import HttpResponse
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.core.cors import CrossOriginWrites
from apps.core.negotiation import FirstRendererNegotiation
from apps.keys.authentication import APIKeyAuthentication, key_from_request
from apps.keys.models import Scope
from apps.keys.permissions import CanIngestWithKey

from .services import events_capture
from .wire import payload_of

MISSING_KEY = (
    "The project key is missing: an ingest key as `api_key` in the body or `token` in the "
    "event's properties."
)


class ProjectKeyAuthentication(APIKeyAuthentication):
    """The key the PostHog SDKs send in the body; a header key (X-API-Key, Bearer) too."""

    def presented_key(self, request) -> str | None:
        return payload_of(request).api_key or key_from_request(request)


class CanCapture(CanIngestWithKey):
    message = "The project key must be an ingest key: a read or admin key may not write."


@extend_schema(exclude=True)  # PostHog's own protocol, documented in docs/posthog.md
class PostHogView(CrossOriginWrites, APIView):
    authentication_classes = [ProjectKeyAuthentication]
    permission_classes = [CanCapture]
    content_negotiation_class = FirstRendererNegotiation
    required_scope = Scope.INGEST  # the ingest rate limit (apps.keys.throttling)
    methods_served: tuple[str, ...] = ("POST",)

    def initial(self, request, *args, **kwargs):
        if request.method not in self.methods_served:  # before the key, read from the body
            raise exceptions.MethodNotAllowed(request.method)
        super().initial(request, *args, **kwargs)

    def permission_denied(self, request, message=None, code=None):
        if request.authenticators and not request.successful_authenticator:
            raise exceptions.NotAuthenticated(MISSING_KEY)
        super().permission_denied(request, message, code)


# A transparent 1x1 GIF: the answer to an image (pixel) request that stored its events.
PIXEL = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")
NO_STORE = "no-cache, no-store, must-revalidate"


def _wants_image(request) -> bool:
    accept = request.META.get("HTTP_ACCEPT", "")
    return request.GET.get("img") == "1" or accept.lstrip().startswith("image/")


class CaptureView(PostHogView):
    """`/capture/`, `/batch/`, `/e/`, `/i/v0/e/`: one event, a list, or a batch; POSTed,
    or as `GET ?data=` (the image fallback), answered with a GIF when an image asked."""

    http_method_names = ["get", "post", "options"]
    methods_served = ("GET", "POST")

    def post(self, request, *args, **kwargs):
        presented = ProjectKeyAuthentication().presented_key(request)
        answer = events_capture(request=request, payload=payload_of(request), key=presented)
        return Response(answer.body, status=answer.status)

    def get(self, request, *args, **kwargs):
        response = self.post(request, *args, **kwargs)
        if response.status_code == 200 and _wants_image(request):
            response = HttpResponse(PIXEL, content_type="image/gif")
        response["Cache-Control"] = NO_STORE
        return response


# No feature flags here: the answer of /flags/ (v2 `flags`) and of /decide/ (`featureFlags`,
# and the remote config older posthog-js reads from it), so no SDK version errors.
NO_FLAGS = {
    "flags": {},
    "featureFlags": {},
    "featureFlagPayloads": {},
    "errorsWhileComputingFlags": False,
    "quotaLimited": [],
    "supportedCompression": ["gzip", "gzip-js"],
    "config": {"enable_collect_everything": True},
    "sessionRecording": False,
    "autocapture_opt_out": False,
    "capturePerformance": False,
    "heatmaps": False,
    "surveys": False,
    "siteApps": [],
    "toolbarParams": {},
    "editorParams": {},
    "isAuthenticated": False,
}


class FlagsView(PostHogView):
    """`/decide/` and `/flags/`: no flags, in the shapes every SDK version reads."""

    def post(self, request, *args, **kwargs):
        return Response({**NO_FLAGS, "requestId": str(uuid.uuid4())})


# The remote config newer posthog-js loads at start, as `/array/<token>/config` (JSON) or
# `/array/<token>/config.js` (a script that sets it): nothing remote to turn on here, no
# flags (posthog-js may still ask /flags/, answered with none); events go to /i/v0/e/.
_TOKEN = re.compile(r"[A-Za-z0-9._\-]{1,200}")


def remote_config(token: str) -> dict:
    return {
        "token": token,
        "supportedCompression": ["gzip", "gzip-js"],
        "hasFeatureFlags": False,
        "captureDeadClicks": False,
        "capturePerformance": False,
        "autocapture_opt_out": False,
        "autocaptureExceptions": False,
        "analytics": {"endpoint": "/i/v0/e/"},
        "elementsChainAsString": True,
        "sessionRecording": False,
        "heatmaps": False,
        "surveys": False,
        "defaultIdentifiedOnly": True,
    }


def _script_json(value) -> str:
    """JSON safe inside a script: no `</script>`, no line separators."""
    text = orjson.dumps(value).decode()
    for char, escaped in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026")):
        text = text.replace(char, escaped)
    return text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


@extend_schema(exclude=True)
class RemoteConfigView(CrossOriginWrites, APIView):
    """`GET /array/<token>/config[.js]`: the same for every token, no key needed (PostHog
    serves it publicly too); a token that cannot be a key is a 400."""

    http_method_names = ["get", "options"]
    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes: list = []
    content_negotiation_class = FirstRendererNegotiation

    def get(self, request, token: str, script: str = ""):
        if not _TOKEN.fullmatch(token):
            raise exceptions.ParseError("The token in the path is not a project key.")
        config = remote_config(token)
        if not script:
            response = Response(config)
        else:
            body = (
                "(function() {\n"
                "    window._POSTHOG_REMOTE_CONFIG = window._POSTHOG_REMOTE_CONFIG || {};\n"
                f"    window._POSTHOG_REMOTE_CONFIG[{_script_json(token)}] = "
                f"{{config: {_script_json(config)}, siteApps: []}};\n"
                "})();\n"
            )
            response = HttpResponse(body, content_type="application/javascript; charset=utf-8")
        response["Cache-Control"] = "public, max-age=300"
        return response
