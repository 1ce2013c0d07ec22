"""AnalyticsMiddleware: log every request to this service, without slowing it down.

A request only appends a small dict to the in-process ingest buffer
(microseconds); the buffer's thread flushes it through the write pipeline
about once a second and at exit. A hard crash may lose up to one flush
interval of this service's own request logs.
"""

import logging
import os
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

from django.conf import settings
from django.http import HttpRequest, HttpResponse

from apps.ingest.buffer import buffer
from apps.ingest.privacy import anonymize_ip, scrub_text

logger = logging.getLogger(__name__)

REQUEST_ID_HEADER = "X-Request-ID"
_MAX_SIZE = 2_147_483_647  # the size columns are 32-bit


def _text(value: str, limit: int) -> str:
    # PostgreSQL text cannot hold NUL; a `%00` in a URL must not sink the batch.
    return value[:limit].replace("\x00", "\ufffd")


def _size(raw) -> int:
    """A byte count the client declared: whatever it says, a number the column holds."""
    try:
        return min(max(int(raw or 0), 0), _MAX_SIZE)
    except (TypeError, ValueError):
        return 0


def _route(request: HttpRequest) -> str:
    match = getattr(request, "resolver_match", None)
    return _text("/" + match.route.lstrip("^").rstrip("$"), 500) if match and match.route else ""


def _client_ip(request: HttpRequest) -> str | None:
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR") if settings.TRUST_X_FORWARDED_FOR else None
    # The last entry is the one our proxy added; earlier ones are whatever the client sent.
    raw = forwarded.split(",")[-1].strip() if forwarded else request.META.get("REMOTE_ADDR")
    try:
        return anonymize_ip(raw)
    except ValueError:
        return None


class AnalyticsMiddleware:
    def __init__(
        self,
        get_response: Callable[[HttpRequest], HttpResponse],
        enable_logging: bool | None = None,
    ):
        self.get_response = get_response
        self.enabled = settings.ANALYTICS_ENABLED if enable_logging is None else enable_logging
        self.skip = settings.ANALYTICS_MIDDLEWARE_SKIP_PREFIXES

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request_id = _text(request.META.get("HTTP_X_REQUEST_ID", ""), 64) or os.urandom(16).hex()
        request.request_id = request_id
        if not self.enabled or request.path.startswith(self.skip):
            response = self.get_response(request)
            response[REQUEST_ID_HEADER] = request_id
            return response
        started = time.perf_counter()
        response = self.get_response(request)
        elapsed_ms = (time.perf_counter() - started) * 1000
        response[REQUEST_ID_HEADER] = request_id
        try:
            buffer.add("request_log", self._row(request, response, elapsed_ms, request_id))
        except Exception:  # logging must never fail the request
            logger.exception("request logging failed")
        return response

    def _row(self, request, response, elapsed_ms: float, request_id: str) -> dict:
        user = getattr(request, "user", None)
        user_id = str(user.pk) if user is not None and user.is_authenticated else ""
        auth = getattr(response, "renderer_context", {}) or {}
        key = getattr(auth.get("request"), "auth", None)
        status = response.status_code
        error = ""
        if status >= 500:
            error = getattr(response, "reason_phrase", "")
            data = getattr(response, "data", None)
            if isinstance(data, dict):
                error = _text(str(data.get("detail", error)), 2000)
        now = datetime.now(UTC).isoformat()
        return {
            "event_id": str(uuid.uuid4()),
            "timestamp": now,
            "received_at": now,
            "service": "self",
            "endpoint": _text(scrub_text(request.path), 500),
            "route": _route(request),
            "method": _text(request.method, 10),
            "status_code": status,
            "response_time_ms": round(elapsed_ms, 3),
            "user_id": user_id,
            "api_key_prefix": getattr(key, "prefix", "") or "",
            "client_ip": _client_ip(request),
            "user_agent": _text(scrub_text(request.META.get("HTTP_USER_AGENT", "")[:600]), 500),
            "request_size": _size(request.META.get("CONTENT_LENGTH")),
            "response_size": _size(len(response.content)) if not response.streaming else 0,
            "error_message": error,
            "request_id": request_id,
        }
