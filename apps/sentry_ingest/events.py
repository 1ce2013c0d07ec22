"""A Sentry event as this service's error item (the `error` kind of apps.errors).

What maps where (docs/sentry.md says the same for users):
- error_message: the raised exception's "Type: value" (the last of `exception.values`,
  which Sentry orders oldest cause first), else the message (`logentry`, `message`);
- error_code: the raised exception's type; endpoint: `request.url`, else `transaction`;
- severity from `level` (fatal -> critical, debug -> info); category from the `category`
  tag when it names one, else `frontend` for browser and mobile SDKs, else `api`;
- stack_trace: the frames rendered as a Python traceback, oldest call first as Sentry
  sends them ("most recent call last"), chained exceptions cause first;
- context: source, project_id, tags (project_id among them), release, environment,
  fingerprint, level, platform, sdk, user, request (headers, query and data), the
  exceptions with their frames (vars included), contexts, extra and the last
  breadcrumbs. The error kind's schema scrubs secrets from all of it before it is
  written; headers and query pairs are turned into objects first so their names count.

An event larger than an item may be (INGEST_MAX_ITEM_BYTES) is trimmed, largest and
least useful parts first (breadcrumbs, frame variables, extra, contexts, then frames
and text), and `context.trimmed` lists what went.
"""

import uuid
from datetime import UTC, datetime
from typing import Any

import orjson
from django.conf import settings

from apps.errors.models import ErrorCategory, Severity
from apps.ingest.fields import MAX_NESTING, nesting_depth
from apps.ingest.privacy import anonymize_ip

SOURCE = "sentry"
_LEVELS = {
    "fatal": Severity.CRITICAL,
    "critical": Severity.CRITICAL,
    "error": Severity.ERROR,
    "warning": Severity.WARNING,
    "warn": Severity.WARNING,
    "info": Severity.INFO,
    "log": Severity.INFO,
    "debug": Severity.INFO,
}
# SDKs that run on the user's device: their errors are the `frontend` category.
_FRONTEND_SDKS = (
    "sentry.javascript.browser",
    "sentry.javascript.react",
    "sentry.javascript.vue",
    "sentry.javascript.angular",
    "sentry.javascript.svelte",
    "sentry.javascript.ember",
    "sentry.javascript.solid",
    "sentry.javascript.capacitor",
    "sentry.javascript.electron",
    "sentry.javascript.react-native",
    "sentry.cocoa",
    "sentry.java.android",
    "sentry.dart.flutter",
    "sentry.dotnet.maui",
    "sentry.unity",
)
_FRONTEND_PLATFORMS = {"cocoa", "objc", "swift"}
_CATEGORIES = frozenset(ErrorCategory.values)
_MAX_TAGS = 100
_TAG_KEY, _TAG_VALUE = 200, 200
_BREADCRUMBS = 20
_MESSAGE, _TRACE, _CODE, _ENDPOINT, _USER = 20_000, 20_000, 100, 500, 255
_DEPTH = MAX_NESTING - 8  # room for the levels context adds above the event's own values


def _dict(value: Any) -> dict:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list:
    return value if isinstance(value, list) else []


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        text = value
    elif isinstance(value, bool | int | float):
        text = str(value)
    else:
        try:
            text = orjson.dumps(value).decode()
        except orjson.JSONEncodeError:  # nested past what an encoder will go
            text = "[unreadable]"
    return text.replace("\x00", "\ufffd")


def _clean(value: Any, depth: int = 0) -> Any:
    """JSON a row can hold: no NUL in strings, nested at most _DEPTH levels."""
    if isinstance(value, str):
        return value.replace("\x00", "\ufffd")
    if isinstance(value, dict | list):
        if depth >= _DEPTH:
            return "[nested too deep]"
        if isinstance(value, dict):
            return {_text(k): _clean(v, depth + 1) for k, v in value.items()}
        return [_clean(v, depth + 1) for v in value]
    return value


def _cleaned(value: Any) -> Any:
    """_clean(value), skipped (it is most of the conversion's time) when nothing needs it."""
    try:
        encoded = orjson.dumps(value)
    except orjson.JSONEncodeError:  # nested past what the encoder goes
        return _clean(value)
    if b"\\u0000" in encoded or nesting_depth(value, _DEPTH) > _DEPTH:
        return _clean(value)
    return value


def _pairs(value: Any) -> dict:
    """Headers, cookies, query strings and tags come as an object or as [name, value] pairs."""
    if isinstance(value, dict):
        return value
    pairs = {}
    for pair in _list(value):
        if isinstance(pair, list) and len(pair) == 2:
            pairs[_text(pair[0])] = pair[1]
    return pairs


def event_id_of(event: dict, fallback: Any = None) -> str:
    """The event's id as 32 hex digits (Sentry's spelling); a new one if it has none.
    An id that is no UUID is kept as sent: the item is then refused, naming it."""
    for raw in (event.get("event_id"), fallback):
        if isinstance(raw, str) and raw:
            try:
                return uuid.UUID(raw).hex
            except ValueError:
                return raw
    return uuid.uuid4().hex


def _timestamp(raw: Any) -> Any:
    if isinstance(raw, int | float) and not isinstance(raw, bool):
        try:
            return datetime.fromtimestamp(raw, UTC).isoformat()
        except (OverflowError, OSError, ValueError):
            return raw  # refused by the kind's schema, by name
    return raw


def _exceptions(event: dict) -> list[dict]:
    exception = event.get("exception")
    values = _list(exception.get("values")) if isinstance(exception, dict) else _list(exception)
    return [value for value in values if isinstance(value, dict)]


def _frames(stacktrace: Any) -> list[dict]:
    return [f for f in _list(_dict(stacktrace).get("frames")) if isinstance(f, dict)]


def _message(event: dict) -> str:
    logentry = _dict(event.get("logentry"))
    message = event.get("message")
    for candidate in (
        logentry.get("formatted"),
        logentry.get("message"),
        _dict(message).get("formatted"),
        _dict(message).get("message"),
        message if isinstance(message, str) else None,
    ):
        if isinstance(candidate, str) and candidate.strip():
            return candidate
    return ""


def _title(event: dict, exceptions: list[dict]) -> str:
    if exceptions:
        raised = exceptions[-1]
        kind, value = _text(raised.get("type")), _text(raised.get("value"))
        title = f"{kind}: {value}" if kind and value else kind or value
        if title:
            return title
    return _message(event) or "<unlabeled event>"


def _frame_lines(frame: dict) -> list[str]:
    where = _text(frame.get("filename") or frame.get("abs_path") or frame.get("module")) or "?"
    line = f'  File "{where}"'
    if frame.get("lineno") is not None:
        line += f", line {_text(frame.get('lineno'))}"
    if frame.get("function"):
        line += f", in {_text(frame.get('function'))}"
    lines = [line]
    context_line = _text(frame.get("context_line")).strip()
    if context_line:
        lines.append(f"    {context_line}")
    return lines


def render_stack_trace(event: dict, exceptions: list[dict]) -> str:
    """The frames as a Python traceback: oldest call first, chained exceptions cause first."""
    blocks = []
    for exception in exceptions:
        frames = _frames(exception.get("stacktrace"))
        lines = ["Traceback (most recent call last):"] if frames else []
        for frame in frames:
            lines += _frame_lines(frame)
        kind, value = _text(exception.get("type")), _text(exception.get("value"))
        lines.append(f"{kind}: {value}" if kind and value else kind or value or "<exception>")
        blocks.append("\n".join(lines))
    if not blocks:
        frames = _frames(event.get("stacktrace")) or next(
            (
                _frames(thread.get("stacktrace"))
                for thread in _list(_dict(event.get("threads")).get("values"))
                if isinstance(thread, dict) and _frames(thread.get("stacktrace"))
            ),
            [],
        )
        if frames:
            lines = ["Stack (most recent call last):"]
            for frame in frames:
                lines += _frame_lines(frame)
            blocks.append("\n".join(lines))
    return "\n\nThe above exception was the cause of the following exception:\n\n".join(blocks)


def _category(event: dict, tags: dict) -> str:
    tagged = tags.get("category")
    if tagged in _CATEGORIES:
        return tagged
    sdk = _text(_dict(event.get("sdk")).get("name"))
    if sdk.startswith(_FRONTEND_SDKS) or _text(event.get("platform")) in _FRONTEND_PLATFORMS:
        return ErrorCategory.FRONTEND
    return ErrorCategory.API


def _tags(event: dict, project_id: str) -> dict[str, str]:
    tags: dict[str, str] = {}
    for key, value in _pairs(event.get("tags")).items():
        if len(tags) >= _MAX_TAGS:
            break
        if value is not None:
            tags[_text(key)[:_TAG_KEY]] = _text(value)[:_TAG_VALUE]
    tags["project_id"] = project_id
    return tags


def _user(event: dict) -> dict:
    user = dict(_dict(event.get("user")))
    ip = user.pop("ip_address", None)
    if isinstance(ip, str):
        try:
            anonymized = anonymize_ip(ip)
        except ValueError:  # "{{auto}}" from browser SDKs, or not an address
            anonymized = None
        if anonymized:
            user["ip_address"] = anonymized
    return user


def _user_id(user: dict) -> str:
    for field in ("id", "username", "email"):
        value = user.get(field)
        if value not in (None, ""):
            return _text(value)[:_USER]
    return ""


def _request(event: dict) -> dict:
    request = dict(_dict(event.get("request")))
    for field in ("headers", "query_string", "cookies"):
        if isinstance(request.get(field), list):
            request[field] = _pairs(request[field])
    env = _dict(request.get("env"))
    if "REMOTE_ADDR" in env:
        try:
            address = anonymize_ip(_text(env["REMOTE_ADDR"]))
        except ValueError:
            address = None
        request["env"] = {**env, "REMOTE_ADDR": address}
    return request


def _exception_context(exceptions: list[dict]) -> list[dict]:
    kept = []
    for exception in exceptions:
        frames = [
            {
                k: frame[k]
                for k in (
                    "filename",
                    "abs_path",
                    "module",
                    "function",
                    "lineno",
                    "colno",
                    "in_app",
                    "context_line",
                    "vars",
                )
                if k in frame
            }
            for frame in _frames(exception.get("stacktrace"))
        ]
        entry = {
            k: exception[k] for k in ("type", "value", "module", "mechanism") if k in exception
        }
        kept.append({**entry, "frames": frames})
    return kept


def error_from_event(event: dict, *, project_id: str, event_id: str) -> dict:
    """The `error` item for one Sentry event (validated, scrubbed and stored by the pipeline)."""
    exceptions = _exceptions(event)
    tags = _tags(event, project_id)
    user = _user(event)
    request = _request(event)
    context: dict[str, Any] = {
        "source": SOURCE,
        "project_id": project_id,
        "tags": tags,
        **{
            field: event[field]
            for field in (
                "release",
                "environment",
                "fingerprint",
                "level",
                "platform",
                "logger",
                "server_name",
                "transaction",
                "dist",
            )
            if event.get(field) not in (None, "", [])
        },
    }
    message = _message(event)
    if exceptions and message:
        context["message"] = message
    sdk = _dict(event.get("sdk"))
    if sdk:
        context["sdk"] = {k: sdk[k] for k in ("name", "version") if k in sdk}
    if user:
        context["user"] = user
    if request:
        context["request"] = request
    if exceptions:
        context["exception"] = _exception_context(exceptions)
    for field in ("contexts", "extra"):
        if _dict(event.get(field)):
            context[field] = event[field]
    breadcrumbs = event.get("breadcrumbs")
    crumbs = _list(_dict(breadcrumbs).get("values")) if isinstance(breadcrumbs, dict) else []
    crumbs = crumbs or _list(breadcrumbs)
    if crumbs:
        context["breadcrumbs"] = crumbs[-_BREADCRUMBS:]
    level = event.get("level")
    item = {
        "event_id": event_id,
        "category": _category(event, tags),
        "severity": _LEVELS.get(level, Severity.ERROR) if isinstance(level, str) else "error",
        "error_message": _title(event, exceptions)[:_MESSAGE],
        "error_code": _text(exceptions[-1].get("type"))[:_CODE] if exceptions else "",
        "endpoint": _text(request.get("url") or event.get("transaction"))[:_ENDPOINT],
        "user_id": _user_id(user),
        "stack_trace": render_stack_trace(event, exceptions)[:_TRACE],
        "context": _cleaned(context),
    }
    timestamp = _timestamp(event.get("timestamp"))
    if timestamp is not None:
        item["timestamp"] = timestamp
    for field in ("error_message", "error_code", "endpoint", "user_id", "stack_trace"):
        item[field] = item[field].replace("\x00", "\ufffd")
    return _fit(item)


def _size(item: dict) -> int:
    return len(orjson.dumps(item))


def _drop_frame_vars(context: dict) -> None:
    for exception in context.get("exception", []):
        for frame in exception.get("frames", []):
            frame.pop("vars", None)


def _keep_last_frames(context: dict, n: int) -> None:
    for exception in context.get("exception", []):
        exception["frames"] = exception.get("frames", [])[-n:]


def _fit(item: dict) -> dict:
    """Trim the item until it fits INGEST_MAX_ITEM_BYTES, least useful parts first."""
    limit = settings.INGEST_MAX_ITEM_BYTES - 256  # headroom for what redaction adds
    context = item["context"]
    steps = (
        ("breadcrumbs", lambda: context.pop("breadcrumbs", None)),
        ("frame vars", lambda: _drop_frame_vars(context)),
        ("extra", lambda: context.pop("extra", None)),
        ("contexts", lambda: context.pop("contexts", None)),
        ("request", lambda: context.pop("request", None)),
        ("frames", lambda: _keep_last_frames(context, 10)),
        ("stack_trace", lambda: item.update(stack_trace=item["stack_trace"][-limit // 4 :])),
        ("exception", lambda: context.pop("exception", None)),
        ("error_message", lambda: item.update(error_message=item["error_message"][: limit // 8])),
        ("stack_trace", lambda: item.update(stack_trace=item["stack_trace"][-limit // 8 :])),
        ("context", lambda: item.update(context=_minimal(context))),
    )
    trimmed: list[str] = []
    for name, step in steps:
        if _size(item) <= limit:
            break
        step()
        trimmed.append(name)
    if trimmed:
        item["context"]["trimmed"] = trimmed
    return item


def _minimal(context: dict) -> dict:
    return {
        "source": SOURCE,
        "project_id": context.get("project_id"),
        "tags": {"project_id": context.get("project_id")},
    }
