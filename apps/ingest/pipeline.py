"""Turn a write request into validated items: body limits, JSON, per-item checks.

Kept to plain Python on the hot path; every rejection names its index.
"""

import uuid
import zlib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import orjson
from django.conf import settings
from pydantic import ValidationError
from rest_framework import exceptions

from apps.core.errors import PayloadTooLarge

from .registry import RecordKind

_JSON_TYPES = ("application/json", "application/x-ndjson", "text/plain")


@dataclass
class Outcome:
    accepted: dict[str, list[dict]] = field(default_factory=dict)  # kind -> items
    rejected: list[dict] = field(default_factory=list)

    @property
    def accepted_count(self) -> int:
        return sum(len(items) for items in self.accepted.values())


def read_body(request) -> bytes:
    """Read at most the body limit, inflating gzip/deflate within the same limit."""
    limit = settings.INGEST_MAX_BODY_BYTES
    content_type = request.META.get("CONTENT_TYPE", "").split(";")[0].strip().lower()
    if content_type not in _JSON_TYPES:
        raise exceptions.UnsupportedMediaType(content_type or "(none)")
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    if declared > limit:
        raise PayloadTooLarge(f"Request body is larger than {limit} bytes.")
    raw = request.read(limit + 1)
    if len(raw) > limit:
        raise PayloadTooLarge(f"Request body is larger than {limit} bytes.")
    encoding = request.META.get("HTTP_CONTENT_ENCODING", "identity").strip().lower()
    if encoding in ("", "identity"):
        return raw
    if encoding not in ("gzip", "deflate"):
        raise exceptions.UnsupportedMediaType(f"content-encoding {encoding}")
    wbits = 16 + zlib.MAX_WBITS if encoding == "gzip" else zlib.MAX_WBITS
    inflater = zlib.decompressobj(wbits)
    try:
        body = inflater.decompress(raw, limit + 1)
    except zlib.error:
        raise exceptions.ParseError(f"Body is not valid {encoding} data.") from None
    if len(body) > limit or inflater.unconsumed_tail:
        raise PayloadTooLarge(f"Inflated request body is larger than {limit} bytes.")
    return body


def parse_items(body: bytes) -> list:
    """One object, a JSON list, or {"batch": [...]} -> list of items."""
    if not body.strip():
        raise exceptions.ParseError("Request body is empty.")
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise exceptions.ParseError(f"Malformed JSON: {exc}") from None
    if isinstance(data, dict) and "batch" in data and len(data) == 1:
        data = data["batch"]
        if not isinstance(data, list):
            raise exceptions.ParseError('"batch" must be a list of objects.')
    items = data if isinstance(data, list) else [data]
    if not items:
        raise exceptions.ParseError("The batch is empty.")
    if len(items) > settings.INGEST_MAX_ITEMS:
        raise PayloadTooLarge(f"A batch holds at most {settings.INGEST_MAX_ITEMS} items.")
    return items


def _errors_from(exc: ValidationError) -> dict[str, list[str]]:
    fields: dict[str, list[str]] = {}
    for error in exc.errors(include_url=False, include_input=False):
        loc = ".".join(str(part) for part in error["loc"]) or "non_field_errors"
        fields.setdefault(loc, []).append(error["msg"])
    return fields


def validate_items(items: list, *, resolve_kind, request) -> Outcome:
    """Validate each item against its kind; `resolve_kind(item)` raises KeyError if unknown."""
    outcome = Outcome()
    now = datetime.now(UTC)
    received_at = now.isoformat()
    newest = now + timedelta(seconds=settings.INGEST_FUTURE_TOLERANCE_SECONDS)
    retention = settings.ANALYTICS_RETENTION_BY_KIND
    oldest_by_kind: dict[str, datetime] = {}
    max_item_bytes = settings.INGEST_MAX_ITEM_BYTES
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            outcome.rejected.append({"index": index, "errors": {"item": ["Must be an object."]}})
            continue
        encoded = orjson.dumps(item)
        if len(encoded) > max_item_bytes:
            outcome.rejected.append(
                {"index": index, "errors": {"item": [f"Larger than {max_item_bytes} bytes."]}}
            )
            continue
        if b"\\u0000" in encoded:
            outcome.rejected.append(
                {"index": index, "errors": {"item": ["Strings may not contain NUL characters."]}}
            )
            continue
        try:
            kind: RecordKind = resolve_kind(item)
        except KeyError as exc:
            outcome.rejected.append({"index": index, "errors": {"kind": [str(exc.args[0])]}})
            continue
        try:
            record = kind.schema.model_validate(item)
        except ValidationError as exc:
            outcome.rejected.append({"index": index, "errors": _errors_from(exc)})
            continue
        ts = record.timestamp or now
        oldest = oldest_by_kind.get(kind.name)
        if oldest is None:
            days = retention.get(kind.name, settings.ANALYTICS_RETENTION_DAYS)
            oldest = oldest_by_kind[kind.name] = now - timedelta(days=days)
        if ts > newest:
            outcome.rejected.append(
                {"index": index, "errors": {"timestamp": ["More than 1 hour in the future."]}}
            )
            continue
        if ts < oldest:
            outcome.rejected.append(
                {"index": index, "errors": {"timestamp": ["Older than the retention window."]}}
            )
            continue
        row = record.model_dump(mode="json")
        row["timestamp"] = ts.isoformat()
        row["event_id"] = row["event_id"] or str(uuid.uuid4())
        row["received_at"] = received_at
        if kind.enrich is not None:
            kind.enrich(row, request)
        outcome.accepted.setdefault(kind.name, []).append(row)
    return outcome
