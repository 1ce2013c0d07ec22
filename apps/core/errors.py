"""One shape for every API error: {"error": code, "detail": text, "fields": {...}}."""

import sys

from django.conf import settings
from django.db import DatabaseError, InterfaceError, OperationalError
from django.http import JsonResponse
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler


class PayloadTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "Request body too large."
    default_code = "payload_too_large"


class Conflict(exceptions.APIException):
    """The change does not apply to the object's state (e.g. acknowledging a resolved
    incident, deleting a built-in check)."""

    status_code = status.HTTP_409_CONFLICT
    default_detail = "This change does not apply in the object's current state."
    default_code = "conflict"


class ServiceUnavailable(exceptions.APIException):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = "The database is unavailable; retry later."
    default_code = "service_unavailable"


class ReadTooCostly(exceptions.APIException):
    """An API read stopped by API_READ_STATEMENT_TIMEOUT_MS (apps/core/readcost.py)."""

    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_code = error_code = "read_too_costly"

    def __init__(self) -> None:
        seconds = settings.API_READ_STATEMENT_TIMEOUT_MS / 1000
        super().__init__(
            f"This read took longer than {seconds:g} s of database time and was stopped. "
            "Narrow its window (days, hours, weeks) or add filters, then retry."
        )


def is_statement_timeout(exc: BaseException | None) -> bool:
    """Whether a database error is PostgreSQL stopping a statement (statement_timeout)."""
    cause = getattr(exc, "__cause__", None) or exc
    return getattr(cause, "sqlstate", None) == "57014"  # query_canceled


_CODES = {
    400: "invalid",
    401: "not_authenticated",
    403: "permission_denied",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    413: "payload_too_large",
    415: "unsupported_media_type",
    429: "throttled",
    503: "service_unavailable",
}


def error_body(status_code: int, detail: str, fields: dict | None = None, code: str = "") -> dict:
    body = {"error": code or _CODES.get(status_code, "error"), "detail": detail}
    if fields:
        body["fields"] = fields
    return body


def database_unavailable_response() -> JsonResponse:
    response = JsonResponse(
        error_body(503, "The database is unavailable; retry later."), status=503
    )
    response["Retry-After"] = str(settings.RETRY_AFTER_SECONDS)
    return response


def is_database_down(exc: BaseException) -> bool:
    return isinstance(exc, (OperationalError, InterfaceError)) or (
        isinstance(exc, DatabaseError) and "connection" in str(exc).lower()
    )


def flat_fields(errors: dict, prefix: str = "") -> dict[str, list[str]]:
    """Nested serializer errors as `{"tags.region": [...], "status.1": [...]}`: one level,
    each a list of messages, as the Error schema says."""
    flat: dict[str, list[str]] = {}
    for key, value in errors.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat |= flat_fields(value, f"{name}.")
        elif isinstance(value, list) and any(isinstance(v, dict | list) for v in value):
            for index, item in enumerate(value):
                if isinstance(item, dict):
                    flat |= flat_fields(item, f"{name}.{index}.")
                elif isinstance(item, list) and item:
                    flat[f"{name}.{index}"] = [str(v) for v in item]
                elif item and not isinstance(item, dict | list):
                    flat.setdefault(name, []).append(str(item))
        else:
            flat[name] = [str(v) for v in value] if isinstance(value, list) else [str(value)]
    return flat


def api_exception_handler(exc, context):
    if is_statement_timeout(exc):
        exc = ReadTooCostly()
    elif is_database_down(exc):
        exc = ServiceUnavailable()
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    data = response.data
    fields = None
    if isinstance(exc, exceptions.ValidationError):
        if isinstance(data, dict) and "detail" not in data:
            fields, detail = flat_fields(data), "Invalid input."
        elif isinstance(data, list):
            detail = " ".join(str(d) for d in data)
        else:
            detail = str(data.get("detail", "Invalid input."))
    else:
        detail = str(data.get("detail", "")) if isinstance(data, dict) else str(data)
    code = getattr(exc, "error_code", None) or _CODES.get(response.status_code)
    if code is None and isinstance(exc, exceptions.APIException):
        code = exc.default_code
    new = Response(
        error_body(response.status_code, detail, fields, code or "error"),
        status=response.status_code,
        headers={k: v for k, v in response.items()},
    )
    if response.status_code == 503:
        new["Retry-After"] = str(settings.RETRY_AFTER_SECONDS)
    return new


def json_404(request, exception=None):
    return JsonResponse(error_body(404, "Not found."), status=404)


def json_500(request):
    # Django calls this inside the except block, so the cause is still at hand.
    if is_database_down(sys.exc_info()[1]):
        return database_unavailable_response()
    return JsonResponse(error_body(500, "Internal server error.", code="server_error"), status=500)


def json_400(request, exception=None):
    return JsonResponse(error_body(400, "Bad request."), status=400)


def json_403(request, exception=None):
    return JsonResponse(error_body(403, "Forbidden."), status=403)
