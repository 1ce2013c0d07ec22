"""PostHog's capture and flags endpoints, at this service's root (the SDKs' `host`).

The project key travels in the body (`api_key`, or `token` in the properties): it is an
ingest key here, checked by the same functions, failure budget and answers as a key in a
header (401 missing or unknown, 429 after too many failures from one address, 403 for a
read or admin key), then the ingest rate limit applies. posthog-js calls these from other
origins: apps.core.cors.CrossOriginWrites.
"""

import uuid

from drf_spectacular.utils import extend_schema
from rest_framework import exceptions
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.core.cors import CrossOriginWrites
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
    required_scope = Scope.INGEST  # the ingest rate limit (apps.keys.throttling)

    def initial(self, request, *args, **kwargs):
        if request.method != "POST":  # before the key, which is read from the body
            raise exceptions.MethodNotAllowed(request.method)
        super().initial(request, *args, **kwargs)

    def permission_denied(self, request, message=None, code=None):
        if request.authenticators and not request.successful_authenticator:
            raise exceptions.NotAuthenticated(MISSING_KEY)
        super().permission_denied(request, message, code)


class CaptureView(PostHogView):
    """`/capture/`, `/batch/`, `/e/`, `/i/v0/e/`: one event, a list, or a batch."""

    def post(self, request, *args, **kwargs):
        presented = ProjectKeyAuthentication().presented_key(request)
        answer = events_capture(request=request, payload=payload_of(request), key=presented)
        return Response(answer.body, status=answer.status)


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
