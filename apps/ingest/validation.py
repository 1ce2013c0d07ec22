"""Items against their kind: schema, size, NUL, time bounds, who may write them.

Kept to plain Python on the hot path; every rejection names its index.
"""

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import orjson
from django.conf import settings
from pydantic import ValidationError

from .body import Unparsable
from .partitions import event_id_made_up
from .registry import RecordKind
from .retention import retention_cutoff


@dataclass
class Outcome:
    accepted: dict[str, list[dict]] = field(default_factory=dict)  # kind -> items
    # kind -> each accepted item's position in the request body, in order.
    accepted_indices: dict[str, list[int]] = field(default_factory=dict)
    rejected: list[dict] = field(default_factory=list)
    # Items whose event_id appeared earlier in the same request: stored once.
    duplicates: int = 0

    @property
    def accepted_count(self) -> int:
        return sum(len(items) for items in self.accepted.values())

    def reject(self, index: int, errors: dict[str, list[str]]) -> None:
        self.rejected.append({"index": index, "errors": errors})


_UNKNOWN_FIELD = (
    "Unknown field. Free-form data goes in the kind's JSON object "
    "(extra_data, metadata or context)."
)


def _errors_from(exc: ValidationError) -> dict[str, list[str]]:
    fields: dict[str, list[str]] = {}
    for error in exc.errors(include_url=False, include_input=False):
        loc = ".".join(str(part) for part in error["loc"]) or "non_field_errors"
        message = _UNKNOWN_FIELD if error["type"] == "extra_forbidden" else error["msg"]
        fields.setdefault(loc, []).append(message)
    return fields


# Objects are encoded a group at a time: one orjson call an item cost more than the rest of
# the check. A group's encoding holds each of its objects' encodings as they are, so every
# object of a group that passes passes; a group that fails is halved down to its objects.
ENCODE_GROUP = 64


def encoding_problems(items: list, max_bytes: int) -> dict[int, str]:
    """index -> why the object there cannot be stored as sent: nested deeper than JSON
    encoders go, larger than `max_bytes` encoded, or a NUL in a string. Items that are not
    objects are left out (they are refused as such)."""
    problems: dict[int, str] = {}
    objects = [index for index, item in enumerate(items) if isinstance(item, dict)]
    groups = [
        objects[start : start + ENCODE_GROUP] for start in range(0, len(objects), ENCODE_GROUP)
    ]
    while groups:
        group = groups.pop()
        try:
            if len(group) == 1:
                encoded = orjson.dumps(items[group[0]])
            else:
                encoded = orjson.dumps([items[index] for index in group])
        except orjson.JSONEncodeError:  # nested deeper than any encoder will go
            problem = "Nested too deeply."
        else:
            if len(encoded) <= max_bytes and b"\\u0000" not in encoded:
                continue
            if len(encoded) > max_bytes:
                problem = f"Larger than {max_bytes} bytes."
            else:
                problem = "Strings may not contain NUL characters."
        if len(group) == 1:
            problems[group[0]] = problem
        else:
            half = len(group) // 2
            groups += (group[:half], group[half:])
    return problems


def session_user(request):
    """The signed-in user when the request is authenticated by a session, not by a key."""
    if request is None or getattr(request, "auth", None) is not None:
        return None
    user = getattr(request, "user", None)
    return user if user is not None and user.is_authenticated else None


SESSION_KINDS_DETAIL = (
    "A signed-in session may write user activity, errors and events only (as itself); "
    "other kinds need an ingest key."
)


def validate_items(items: list, *, resolve_kind, request, kind_key: str | None = None) -> Outcome:
    """Validate each item against its kind; `resolve_kind(item)` raises KeyError if unknown.

    `kind_key` names an item field that only routes the item (the mixed batch's
    `kind`); it is not part of the item. An event_id seen earlier in the same
    request makes the item a duplicate: counted, not stored twice.
    """
    outcome = Outcome()
    now = datetime.now(UTC)
    received_at = now.isoformat()
    newest = now + timedelta(seconds=settings.INGEST_FUTURE_TOLERANCE_SECONDS)
    oldest_by_kind: dict[str, datetime] = {}
    unfit = encoding_problems(items, settings.INGEST_MAX_ITEM_BYTES)
    seen: set[str] = set()
    user = session_user(request)
    for index, item in enumerate(items):
        if isinstance(item, Unparsable):
            outcome.reject(index, {"item": [item.reason]})
            continue
        if not isinstance(item, dict):
            outcome.reject(index, {"item": ["Must be an object."]})
            continue
        if (problem := unfit.get(index)) is not None:
            outcome.reject(index, {"item": [problem]})
            continue
        try:
            kind: RecordKind = resolve_kind(item)
        except KeyError as exc:
            outcome.reject(index, {"kind": [str(exc.args[0])]})
            continue
        if user is not None and not kind.session_writable:
            outcome.reject(index, {"kind": [SESSION_KINDS_DETAIL]})
            continue
        if kind_key is not None:
            item = {k: v for k, v in item.items() if k != kind_key}
        try:
            record = kind.schema.model_validate(item)
        except ValidationError as exc:
            outcome.reject(index, _errors_from(exc))
            continue
        ts = record.timestamp or now
        oldest = oldest_by_kind.get(kind.name)
        if oldest is None:
            oldest = oldest_by_kind[kind.name] = retention_cutoff(kind.name, now=now)
        if ts > newest:
            outcome.reject(index, {"timestamp": ["More than 1 hour in the future."]})
            continue
        if ts < oldest:
            outcome.reject(index, {"timestamp": ["Older than the retention window."]})
            continue
        # model_dump(mode="json") without its Python wrapper (~0.3 us an item).
        row = kind.schema.__pydantic_serializer__.to_python(record, mode="json")
        if row["event_id"] is None:
            event_id_made_up(row, kind)
        elif row["event_id"] in seen:
            outcome.duplicates += 1
            continue
        seen.add(row["event_id"])
        row["timestamp"] = received_at if ts is now else ts.isoformat()  # ~1.7 us each
        row["received_at"] = received_at
        if kind.enrich is not None:
            kind.enrich(row, request)
        if user is not None and "user_id" in row:
            row["user_id"] = str(user.pk)  # a session writes as itself, whatever the body says
        outcome.accepted.setdefault(kind.name, []).append(row)
        outcome.accepted_indices.setdefault(kind.name, []).append(index)
    return outcome
