"""ExportLogsServiceRequest -> errors, and events or nothing (OTLP_LOGS_BELOW_ERROR).

- A record at ERROR or above (severity_number >= 17, or a severity_text of ERROR, FATAL,
  CRITICAL ... when it has no number), or any record with `exception.*` attributes, is
  one error: exception.type as its code, exception.message (else the body) as its message,
  exception.stacktrace as its stack trace, the other attributes, the trace and span ids,
  the service and the logger in its context. Severity: FATAL -> critical, ERROR -> error,
  WARN -> warning, else info. Category: `database` when the record names a database
  (`db.system*`), `frontend` from a browser SDK (telemetry.sdk.language webjs), else `api`.
- Any other record becomes an event `otel_log` (its body, severity and attributes in
  metadata) when OTLP_LOGS_BELOW_ERROR is `events`; with `drop` (the default) it is
  counted (ingest counter `otlp_log:dropped`) and dropped.
"""

import hashlib

import orjson
from django.conf import settings

from .attributes import any_value, attributes, service_name
from .converted import ByKind
from .metrics import event_id, timestamp
from .protocol import hex_id

ERROR_NUMBER = 17  # SEVERITY_NUMBER_ERROR; 21 and up: FATAL
FATAL_NUMBER = 21
WARN_NUMBER = 13
_TEXT_NUMBERS = {
    "FATAL": 21,
    "CRITICAL": 21,
    "EMERGENCY": 21,
    "ALERT": 21,
    "ERROR": 17,
    "SEVERE": 17,
    "WARN": 13,
    "WARNING": 13,
}
MAX_STACK = 20_000
EVENT_TYPE = "otel_log"


def _severity_number(record) -> int:
    if record.severity_number:
        return int(record.severity_number)
    return _TEXT_NUMBERS.get(record.severity_text.strip().upper(), 0)


def _severity(number: int) -> str:
    if number >= FATAL_NUMBER:
        return "critical"
    if number >= ERROR_NUMBER:
        return "error"
    if number >= WARN_NUMBER:
        return "warning"
    return "info"


def _body_text(body) -> str:
    if isinstance(body, str):
        return body
    if isinstance(body, dict) and isinstance(body.get("message"), str):
        return body["message"]
    return "" if body is None else orjson.dumps(body, default=str).decode()


def convert(message) -> ByKind:
    out = ByKind()
    keep_others = settings.OTLP_LOGS_BELOW_ERROR == "events"
    index = 0
    for resource_logs in message.resource_logs:
        resource = attributes(resource_logs.resource.attributes)
        for scope_logs in resource_logs.scope_logs:
            scope = scope_logs.scope.name
            for record in scope_logs.log_records:
                attrs = attributes(record.attributes)
                number = _severity_number(record)
                if number >= ERROR_NUMBER or any(k.startswith("exception.") for k in attrs):
                    kind, item = "error", _error(record, attrs, resource, scope, number)
                elif keep_others:
                    kind, item = "event", _event(record, attrs, resource, scope, number)
                else:
                    out.dropped += 1
                    index += 1
                    continue
                out.add(kind, index, f"log record {index}", item)
                index += 1
    return out


def _ids(record) -> dict:
    ids = {"trace_id": hex_id(record.trace_id), "span_id": hex_id(record.span_id)}
    return {key: value for key, value in ids.items() if value}


def _event_id(record, resource: dict) -> str:
    # Log records carry no id: the record's own bytes (time, body, attributes) and its
    # service name one, so an export sent again is stored once.
    digest = hashlib.blake2b(record.SerializeToString(deterministic=True), digest_size=16)
    return event_id("log", service_name(resource), digest.hexdigest())


def _when(record) -> dict:
    when = timestamp(record.time_unix_nano or record.observed_time_unix_nano)
    return {"timestamp": when} if when is not None else {}


def _category(attrs: dict, resource: dict) -> str:
    if any(key.startswith("db.system") for key in attrs):
        return "database"
    if resource.get("telemetry.sdk.language") == "webjs":
        return "frontend"
    return "api"


def _error(record, attrs: dict, resource: dict, scope: str, number: int) -> dict:
    body = any_value(record.body)
    exception_type = attrs.pop("exception.type", None)
    exception_message = attrs.pop("exception.message", None)
    stack = attrs.pop("exception.stacktrace", None)
    message = str(exception_message or "") or _body_text(body) or str(exception_type or "")
    context = {
        **_ids(record),
        "service": service_name(resource),
        "logger": scope,
        "severity_text": record.severity_text,
        "attributes": attrs,
    }
    if body is not None and _body_text(body) != message:
        context["body"] = body
    return {
        "event_id": _event_id(record, resource),
        "category": _category(attrs, resource),
        "severity": _severity(number),
        "error_message": message[:20_000] or "(empty log record)",
        "error_code": str(exception_type or "")[:100],
        "endpoint": str(attrs.get("url.path") or attrs.get("http.route") or "")[:500],
        "user_id": str(attrs.get("user.id") or attrs.get("enduser.id") or "")[:255],
        "stack_trace": str(stack or "")[:MAX_STACK],
        "context": context,
        **_when(record),
    }


def _event(record, attrs: dict, resource: dict, scope: str, number: int) -> dict:
    return {
        "event_id": _event_id(record, resource),
        "event_type": EVENT_TYPE,
        "user_id": str(attrs.get("user.id") or attrs.get("enduser.id") or "")[:255],
        "session_id": str(attrs.get("session.id") or "")[:255],
        "metadata": {
            **_ids(record),
            "service": service_name(resource),
            "logger": scope,
            "severity": record.severity_text or _severity(number),
            "body": any_value(record.body),
            "attributes": attrs,
        },
        **_when(record),
    }
