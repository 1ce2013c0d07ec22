"""PostHog events as this service's items, written through the one ingest path.

Each PostHog event becomes one item (never two, so no read counts it twice):

- `$pageview` and `$screen` become user activity of type `page_view` (`$current_url`, or
  `$screen_name`, as its page), and `$autocapture` user activity of type `click` (or
  `interaction` for a change or submit): the insights count page views and other activity
  from user activity;
- every other event becomes an event, its name made snake_case as this service's event
  types are (`$identify` -> `identify`, `Signed Up` -> `signed_up`, `memoryPosted` ->
  `memory_posted`), the name as sent kept as `$event` in its metadata when it differs.

Both carry `distinct_id` as `user_id` (so DAU/WAU/MAU, retention and top users count
them), `properties.$session_id` as `session_id`, `uuid` as `event_id` (the idempotency
key) and the properties as metadata (`extra_data` for activity): `$`-prefixed ones
included; the project key (`token`), `distinct_id` and what has a column (`$session_id`,
a page view's page) left out; `$set` / `$set_once` /
`$unset` of the event's top level added, `$ip` anonymised (dropped if it is no address),
and secrets scrubbed as in every item.
"""

import re
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

from apps.ingest.pipeline import IngestAnswer, items_accept
from apps.ingest.privacy import anonymize_ip

from .wire import Payload, event_token, parse_time

ACTIVITY_EVENTS = {"$pageview": "page_view", "$screen": "page_view", "$autocapture": "click"}
PERSON_UPDATES = ("$set", "$set_once", "$unset")
# Item fields -> the PostHog names a client sent them as, for per-item errors.
_SENT_AS = {
    "event_type": "event",
    "activity_type": "event",
    "user_id": "distinct_id",
    "event_id": "uuid",
    "session_id": "properties.$session_id",
    "page_url": "properties.$current_url",
    "element_id": "properties.$elements",
    "metadata": "properties",
    "extra_data": "properties",
}
_CAMEL = re.compile(r"([a-z0-9])([A-Z])")
_NOT_WORD = re.compile(r"[^a-z0-9]+")
MAX_EVENT_TYPE = 100  # apps.events EventIn.event_type


class EventRefusedError(Exception):
    def __init__(self, errors: dict[str, list[str]]):
        super().__init__(errors)
        self.errors = errors


def event_type_for(name: str) -> str:
    """A PostHog event name as a snake_case event type (at most 100 characters)."""
    # A few names make most events: remembered, but only short ones (the cache is bounded
    # in entries, and a client chooses the names).
    return _event_type_cached(name) if len(name) <= 200 else _event_type(name)


def _event_type(name: str) -> str:
    text = _NOT_WORD.sub("_", _CAMEL.sub(r"\1_\2", name).lower()).strip("_")
    if not text:
        return "event"
    if not text[0].isalpha():
        text = f"e_{text}"
    return text[:MAX_EVENT_TYPE].rstrip("_")


_event_type_cached = lru_cache(maxsize=4096)(_event_type)


def events_capture(*, request, payload: Payload, key: str | None) -> IngestAnswer:
    """Validate and write the payload's events (all or those that are valid) as events and
    user activity; the answer lists each refused event by its index in the request, with
    its errors under the names the client sent (`event`, `distinct_id`, `uuid` ...).

    `key` is the project key the request was authenticated with: an event that names
    another is refused, never written under this key's authority."""
    now = datetime.now(UTC)
    items: list[Any] = []
    positions: list[int] = []
    rejected: list[dict] = []
    for index, event in enumerate(payload.events):
        try:
            items.append(item_from_event(event, key=key, sent_at=payload.sent_at, now=now))
        except EventRefusedError as refused:
            rejected.append({"index": index, "errors": refused.errors})
            continue
        positions.append(index)
    if not items:
        return IngestAnswer(400, _refusal(rejected))
    kinds = {item["kind"] for item in items}
    if len(kinds) == 1:  # the usual batch: no per-item routing (and copy) in the pipeline
        for item in items:
            del item["kind"]
        answer = items_accept(request=request, items=items, kind=kinds.pop())
    else:
        answer = items_accept(request=request, items=items, kind_key="kind")
    rejected += [
        {"index": positions[entry["index"]], "errors": _as_sent(entry["errors"])}
        for entry in answer.body["rejected"]
    ]
    rejected.sort(key=lambda entry: entry["index"])
    if answer.status >= 400:
        return IngestAnswer(answer.status, _refusal(rejected))
    body = {
        "status": 1,  # what PostHog answers; the SDKs read only the HTTP status
        "accepted": answer.body["accepted"],
        "duplicates": answer.body["duplicates"],
        "rejected": rejected,
    }
    return IngestAnswer(200, body)


def _refusal(rejected: list[dict]) -> dict:
    return {
        "error": "invalid",
        "detail": "No event was accepted.",
        "accepted": 0,
        "duplicates": 0,
        "rejected": rejected,
    }


def _as_sent(errors: dict[str, list[str]]) -> dict[str, list[str]]:
    renamed: dict[str, list[str]] = {}
    for field, messages in errors.items():
        head, dot, rest = field.partition(".")
        renamed.setdefault(_SENT_AS.get(head, head) + dot + rest, []).extend(messages)
    return renamed


def item_from_event(event: Any, *, key: str | None, sent_at: datetime | None, now: datetime):
    """One PostHog event as an item of the mixed batch (`kind` event or user_activity).
    Raises EventRefusedError for what only this protocol knows is wrong; the rest (lengths, the
    uuid, the time window) the kind's schema checks."""
    if not isinstance(event, dict):
        raise EventRefusedError({"item": ["Must be an object (an event)."]})
    properties = event.get("properties")
    if properties is None:
        properties = {}
    if not isinstance(properties, dict):
        raise EventRefusedError({"properties": ["Must be an object."]})
    token = event_token(event)
    if key is not None and token is not None and token != key:
        raise EventRefusedError({"token": ["Differs from the request's project key."]})
    name = event.get("event")
    if not isinstance(name, str) or not name.strip():
        raise EventRefusedError({"event": ["Required: the event's name."]})
    item: dict[str, Any] = {"user_id": _distinct_id(event, properties)}
    columns = ["token", "distinct_id"]  # properties not repeated in the metadata
    session_id = properties.get("$session_id")
    if isinstance(session_id, str | int) and not isinstance(session_id, bool):
        item["session_id"] = str(session_id)[:255]
        columns.append("$session_id")
    if event.get("uuid") is not None:
        item["event_id"] = event["uuid"]
    item["timestamp"] = _timestamp(event, properties, sent_at=sent_at, now=now)
    activity = ACTIVITY_EVENTS.get(name)
    if activity is None:
        metadata = _metadata(event, properties, columns)
        event_type = event_type_for(name)
        if event_type != name:
            metadata["$event"] = name
        return {**item, "kind": "event", "event_type": event_type, "metadata": metadata}
    if name == "$autocapture":
        if properties.get("$event_type", "click") != "click":
            activity = "interaction"
        element = _element_id(properties)
        if element:
            item["element_id"] = element
    else:
        page_property = "$screen_name" if name == "$screen" else "$current_url"
        page = properties.get(page_property)
        if isinstance(page, str):
            item["page_url"] = page[:2000]
            columns.append(page_property)
    metadata = _metadata(event, properties, columns)
    return {**item, "kind": "user_activity", "activity_type": activity, "extra_data": metadata}


def _distinct_id(event: dict, properties: dict) -> str:
    value = event.get("distinct_id")
    if value is None or value == "":
        value = properties.get("distinct_id")
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise EventRefusedError({"distinct_id": ["Required: a string (or a number)."]})
    text = str(value).strip()
    if not text:
        raise EventRefusedError({"distinct_id": ["Required: a string (or a number)."]})
    return text


def _metadata(event: dict, properties: dict, columns: list[str]) -> dict:
    metadata = {k: v for k, v in properties.items() if k not in columns}
    for name in PERSON_UPDATES:
        top = event.get(name)
        if isinstance(top, dict):
            inner = metadata.get(name)
            metadata[name] = {**inner, **top} if isinstance(inner, dict) else top
    person = metadata.get("$set")
    if isinstance(person, dict) and isinstance(person.get("email"), str):
        metadata.setdefault("email", person["email"])  # top users show it
    if "$ip" in metadata:
        try:
            ip = anonymize_ip(metadata["$ip"]) if isinstance(metadata["$ip"], str) else None
        except ValueError:
            ip = None
        if ip is None:
            del metadata["$ip"]
        else:
            metadata["$ip"] = ip
    return metadata


def _element_id(properties: dict) -> str:
    elements = properties.get("$elements")
    first = elements[0] if isinstance(elements, list) and elements else None
    if not isinstance(first, dict):
        return ""
    for field in ("attr__id", "tag_name"):
        value = first.get(field)
        if isinstance(value, str) and value:
            return value[:255]
    return ""


def _timestamp(
    event: dict, properties: dict, *, sent_at: datetime | None, now: datetime
) -> datetime | Any:
    """When the event happened, by the server's clock, as PostHog reads it: `timestamp`
    shifted by the client's clock skew (now - `sent_at`) unless `$ignore_sent_at`; else
    `offset` milliseconds before now; else now. A datetime (the schema takes it as is,
    no second parse); a `timestamp` that is no ISO time is passed on as sent, for the
    schema to refuse by name."""
    sent = event.get("timestamp")
    if sent is not None:
        moment = parse_time(sent)
        if moment is None:
            return sent
        own_sent_at = (parse_time(event["sent_at"]) if "sent_at" in event else None) or sent_at
        if own_sent_at is not None and properties.get("$ignore_sent_at") is not True:
            try:
                moment = now + (moment - own_sent_at)
            except OverflowError:
                pass
        return moment
    offset = event.get("offset")
    if isinstance(offset, int | float) and not isinstance(offset, bool):
        try:
            return now - timedelta(milliseconds=offset)
        except (OverflowError, ValueError):
            raise EventRefusedError({"offset": ["Out of range."]}) from None
    return now
