"""Request bodies: the body limit (chunked or not, gzip/deflate), JSON or NDJSON, items."""

import zlib
from dataclasses import dataclass

import brotli
import orjson
from django.conf import settings
from rest_framework import exceptions

from apps.core.errors import PayloadTooLarge

JSON_TYPES = ("application/json", "text/plain")
NDJSON_TYPES = ("application/x-ndjson", "application/jsonl", "application/json-seq")
_READ_STEP = 64 * 1024


@dataclass(frozen=True)
class Unparsable:
    """An NDJSON line that is not JSON: rejected by index like any invalid item."""

    reason: str


def media_type(request) -> str:
    return request.META.get("CONTENT_TYPE", "").split(";")[0].strip().lower()


def _body_stream(request):
    """Where the body comes from. Django's WSGI request reads CONTENT_LENGTH bytes and a
    chunked body has none, so that one is read from the server's own (de-chunking) input."""
    chunked = "chunked" in request.META.get("HTTP_TRANSFER_ENCODING", "").lower()
    if chunked and not request.META.get("CONTENT_LENGTH") and "wsgi.input" in request.META:
        return request.META["wsgi.input"]
    return request


def _read_at_most(stream, limit: int) -> bytes:
    """Read until the end of the body or `limit + 1` bytes, whichever comes first."""
    parts, size = [], 0
    while size <= limit:
        part = stream.read(min(_READ_STEP, limit + 1 - size))
        if not part:
            break
        parts.append(part)
        size += len(part)
    return b"".join(parts)


def read_body(request, *, media_types: tuple[str, ...] | None = JSON_TYPES + NDJSON_TYPES) -> bytes:
    """Read at most the body limit (chunked or not); gzip/deflate/br inflate within the same
    limit. `media_types`: the content types accepted (415 otherwise), for an SDK's wire
    format; None takes any (Sentry envelopes come as text/plain, or with none, from browsers)."""
    limit = settings.INGEST_MAX_BODY_BYTES
    content_type = media_type(request)
    if media_types is not None and content_type not in media_types:
        raise exceptions.UnsupportedMediaType(content_type or "(none)")
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    if declared > limit:
        raise PayloadTooLarge(f"Request body is larger than {limit} bytes.")
    raw = _read_at_most(_body_stream(request), limit)
    if len(raw) > limit:
        raise PayloadTooLarge(f"Request body is larger than {limit} bytes.")
    encoding = request.META.get("HTTP_CONTENT_ENCODING", "identity").strip().lower()
    if encoding in ("", "identity"):
        return raw
    if encoding == "br":  # the Sentry SDKs' default where the brotli module is installed
        return _unbrotli(raw, limit)
    if encoding not in ("gzip", "deflate"):
        raise exceptions.UnsupportedMediaType(f"content-encoding {encoding}")
    return inflate(raw, encoding)


def inflate(raw: bytes, encoding: str) -> bytes:
    """gzip or deflate data inflated within the body limit (413 beyond, 400 if not valid):
    also for a wire format that compresses without saying so in Content-Encoding
    (posthog-js's `?compression=gzip-js`)."""
    limit = settings.INGEST_MAX_BODY_BYTES
    wbits = 16 + zlib.MAX_WBITS if encoding == "gzip" else zlib.MAX_WBITS
    inflater = zlib.decompressobj(wbits)
    try:
        body = inflater.decompress(raw, limit + 1)
    except zlib.error:
        raise exceptions.ParseError(f"Body is not valid {encoding} data.") from None
    if len(body) > limit or inflater.unconsumed_tail:
        raise PayloadTooLarge(f"Inflated request body is larger than {limit} bytes.")
    return body


def _unbrotli(raw: bytes, limit: int) -> bytes:
    inflater = brotli.Decompressor()
    try:
        body = inflater.process(raw, output_buffer_limit=limit + 1)
    except brotli.error:
        raise exceptions.ParseError("Body is not valid br data.") from None
    if len(body) > limit or not inflater.can_accept_more_data():
        raise PayloadTooLarge(f"Inflated request body is larger than {limit} bytes.")
    if not inflater.is_finished():
        raise exceptions.ParseError("Body is not valid br data (truncated).")
    return body


def parse_items(body: bytes, *, ndjson: bool = False) -> list:
    """One object, a JSON list, or {"batch": [...]} -> list of items; NDJSON: one per line."""
    if not body.strip():
        raise exceptions.ParseError("Request body is empty.")
    if ndjson:
        items = _parse_lines(body)
    else:
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


def _parse_lines(body: bytes) -> list:
    items: list = []
    for line in body.splitlines():
        line = line.strip().lstrip(b"\x1e")  # json-seq records start with RS
        if not line:
            continue
        if len(items) >= settings.INGEST_MAX_ITEMS:
            raise PayloadTooLarge(f"A batch holds at most {settings.INGEST_MAX_ITEMS} items.")
        try:
            items.append(orjson.loads(line))
        except orjson.JSONDecodeError as exc:
            items.append(Unparsable(f"Malformed JSON: {exc}"))
    return items
