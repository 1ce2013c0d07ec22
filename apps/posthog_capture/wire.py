"""What the PostHog SDKs post, decoded: the body within the ingest limits, its encodings,
its events and the project key it carries.

Encodings as the SDKs send them (posthog-python `request.py`, posthog-js `request.ts`):

- JSON (`application/json`), maybe `Content-Encoding: gzip` (posthog-python `gzip=True`,
  posthog-node);
- a gzip body sent as `text/plain`, marked `?compression=gzip-js` by older posthog-js and
  not marked at all by newer ones (a CORS-simple request has no Content-Encoding): it is
  recognised by the gzip magic bytes whatever the URL says;
- a form, `application/x-www-form-urlencoded`, `data=<base64 of the UTF-8 JSON>`
  (`?compression=base64`, and what sendBeacon sends); old clients put plain JSON there;
- a GET with the same `data=` in the query: the image (pixel) fallback of clients that
  can neither XHR nor beacon.

The JSON is one event, a list of events, or `{"api_key", "batch": [...], "sent_at"}`.
The project key is `api_key` (or `token`) at the top, else the first event's `api_key`,
`token` or `properties.token`.
"""

import base64
import binascii
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs

import orjson
from django.conf import settings
from rest_framework import exceptions

from apps.core.errors import PayloadTooLarge
from apps.ingest.body import inflate, media_type, read_body

FORM = "application/x-www-form-urlencoded"
# "" too: a beacon or an old client may send no type at all.
MEDIA_TYPES = ("application/json", "text/plain", FORM, "")
GZIP_MAGIC = b"\x1f\x8b"
SHAPE = 'The body must be an event, a list of events, or {"batch": [...]}.'
# posthog-js's LZ-string encoding (`compression=lz64`), dropped from posthog-js years ago.
UNSUPPORTED_COMPRESSION = ("lz64",)
_URL_SAFE = bytes.maketrans(b"-_", b"+/")


@dataclass(frozen=True)
class Payload:
    """A request's events as sent (anything JSON: each is checked on its own), the project
    key it names, and the client's clock when it sent them (for clock-skew correction)."""

    events: list[Any]
    api_key: str | None
    sent_at: datetime | None


def payload_of(request) -> Payload:
    """The request's payload, decoded once per request (authentication reads its key
    before the view reads its events)."""
    django_request = getattr(request, "_request", request)
    payload = getattr(django_request, "_posthog_payload", None)
    if payload is None:
        payload = payload_from(decoded_json(request), query=request.GET)
        django_request._posthog_payload = payload
    return payload


def decoded_json(request) -> Any:
    """The body's JSON, whichever encoding it came in; 400, 413 or 415 as the REST ingest
    endpoints answer them."""
    compression = request.GET.get("compression", "").lower()
    if compression in UNSUPPORTED_COMPRESSION:
        raise exceptions.UnsupportedMediaType(f"compression {compression}")
    if request.method == "GET":
        return _json(_query_data(request))
    raw = read_body(request, media_types=MEDIA_TYPES)
    if raw[:2] == GZIP_MAGIC:
        raw = inflate(raw, "gzip")
    if media_type(request) == FORM or raw[:5] == b"data=":
        raw = _form_data(raw)
    elif compression == "base64":
        raw = _unbase64(raw)
    if not raw.strip():
        raise exceptions.ParseError("Request body is empty.")
    return _json(raw)


def _json(raw: bytes) -> Any:
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise exceptions.ParseError(f"Malformed JSON: {exc}") from None


def _query_data(request) -> bytes:
    """The events of a GET: `?data=` as the image (pixel) fallback of posthog-js and the
    mixpanel-style clients sends them, base64 of the JSON (or the JSON itself)."""
    data = request.GET.get("data", "").strip()
    if not data:
        raise exceptions.ParseError(
            "A GET carries its events in `?data=` (base64 of the JSON); POST them otherwise."
        )
    if len(data) > settings.INGEST_MAX_BODY_BYTES:
        raise PayloadTooLarge(f"`data` is larger than {settings.INGEST_MAX_BODY_BYTES} bytes.")
    if data[0] in "[{":
        return data.encode("utf-8", errors="replace")
    return _unbase64(data.encode("ascii", errors="replace"))


def _form_data(raw: bytes) -> bytes:
    try:
        form = parse_qs(raw.decode("ascii"), keep_blank_values=True, strict_parsing=False)
    except (UnicodeDecodeError, ValueError):
        raise exceptions.ParseError("The form body is not URL-encoded ASCII.") from None
    if form.get("compression", [""])[0].lower() in UNSUPPORTED_COMPRESSION:
        raise exceptions.UnsupportedMediaType(f"compression {form['compression'][0]}")
    data = form.get("data", [""])[0].strip()
    if not data:
        raise exceptions.ParseError("The form body has no `data` field.")
    if data[0] in "[{":  # old clients: the JSON itself
        return data.encode("utf-8")
    return _unbase64(data.encode("ascii", errors="replace"))


def _unbase64(raw: bytes) -> bytes:
    # A `+` that was not URL-encoded arrives as a space; URL-safe base64 is read too.
    text = raw.strip().replace(b" ", b"+").translate(_URL_SAFE)
    text += b"=" * (-len(text) % 4)
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise exceptions.ParseError("`data` is not valid base64.") from None


def payload_from(data: Any, *, query) -> Payload:
    """The events, key and send time of decoded JSON (see the module docstring)."""
    if isinstance(data, list):
        events, top = data, {}
    elif isinstance(data, dict):
        if "batch" in data:
            events, top = data["batch"], data
            if not isinstance(events, list):
                raise exceptions.ParseError('"batch" must be a list of events.')
        else:
            events, top = [data], data
    else:
        raise exceptions.ParseError(SHAPE)
    if not events:
        raise exceptions.ParseError("The batch is empty.")
    if len(events) > settings.INGEST_MAX_ITEMS:
        raise PayloadTooLarge(f"A batch holds at most {settings.INGEST_MAX_ITEMS} items.")
    api_key = _text(top.get("api_key")) or _text(top.get("token")) or event_token(events[0])
    return Payload(events=events, api_key=api_key, sent_at=_sent_at(top, query))


def event_token(event: Any) -> str | None:
    """The project key an event names itself, if any."""
    if not isinstance(event, dict):
        return None
    properties = event.get("properties")
    in_properties = properties.get("token") if isinstance(properties, dict) else None
    return _text(event.get("api_key")) or _text(event.get("token")) or _text(in_properties)


def _text(value: Any) -> str | None:
    return (value.strip() or None) if isinstance(value, str) else None


def _sent_at(top: dict, query) -> datetime | None:
    """`sent_at` in the body (ISO 8601), else in the query (posthog-js: milliseconds since
    the epoch, as `sent_at` or `_`)."""
    value = top.get("sent_at")
    if isinstance(value, str):
        return parse_time(value)
    for name in ("sent_at", "_"):
        millis = query.get(name, "")
        if millis.isdigit() and len(millis) <= 15:
            try:
                return datetime.fromtimestamp(int(millis) / 1000, UTC)
            except (OverflowError, OSError, ValueError):
                return None
    return None


def parse_time(value: Any) -> datetime | None:
    """An ISO 8601 time as UTC (naive ones read as UTC), None if it is not one."""
    if not isinstance(value, str) or len(value) > 64:
        return None
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        return None
