"""Sentry's wire formats: an envelope (newline-separated headers and payloads) and the
old store endpoint's single event (JSON, or base64 of zlib-deflated JSON from old SDKs).

An envelope is an envelope header (a JSON object on one line), then items: each an item
header (a JSON object on one line with `type`, and `length` in bytes when the payload
may hold newlines) and its payload, `length` bytes when given, else up to the next
newline. Anything else is a ParseError (400): never a partial read.
"""

import base64
import binascii
import zlib
from dataclasses import dataclass

import orjson
from django.conf import settings
from rest_framework import exceptions

from apps.core.errors import PayloadTooLarge
from apps.ingest.body import read_body


@dataclass(frozen=True)
class Item:
    type: str
    headers: dict
    payload: bytes


@dataclass(frozen=True)
class Envelope:
    headers: dict
    items: list[Item]


def _object(line: bytes, what: str) -> dict:
    try:
        value = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        raise exceptions.ParseError(f"The {what} is not JSON: {exc}") from None
    if not isinstance(value, dict):
        raise exceptions.ParseError(f"The {what} must be a JSON object.")
    return value


def request_body(request) -> bytes:
    """The request's body within the limits, inflated (apps.ingest.body.read_body), read
    once: the authentication may read the envelope header's dsn before the service parses
    the envelope."""
    http = getattr(request, "_request", request)
    body = getattr(http, "_sentry_body", None)
    if body is None:
        body = read_body(request, media_types=None)
        http._sentry_body = body
    return body


def envelope_parse(body: bytes) -> Envelope:
    """The envelope in `body`; ParseError naming what is wrong (400), PayloadTooLarge
    beyond INGEST_MAX_ITEMS items (413)."""
    if not body.strip():
        raise exceptions.ParseError("The envelope is empty.")
    end = body.find(b"\n")
    end = len(body) if end < 0 else end
    headers = _object(body[:end], "envelope header")
    items: list[Item] = []
    pos = end + 1
    while pos < len(body):
        if not body[pos:].strip():  # trailing newlines
            break
        index = len(items)
        if index >= settings.INGEST_MAX_ITEMS:
            raise PayloadTooLarge(f"An envelope holds at most {settings.INGEST_MAX_ITEMS} items.")
        end = body.find(b"\n", pos)
        if end < 0:
            raise exceptions.ParseError(f"Item {index}: its header has no payload after it.")
        header = _object(body[pos:end], f"header of item {index}")
        kind = header.get("type")
        if not isinstance(kind, str) or not kind:
            raise exceptions.ParseError(f"Item {index}: its header needs a string `type`.")
        start = end + 1
        length = header.get("length")
        if length is None:
            end = body.find(b"\n", start)
            end = len(body) if end < 0 else end
            payload, pos = body[start:end], end + 1
        else:
            if isinstance(length, bool) or not isinstance(length, int) or length < 0:
                raise exceptions.ParseError(f"Item {index}: `length` must be a whole number.")
            payload, pos = body[start : start + length], start + length
            if len(payload) < length:
                raise exceptions.ParseError(
                    f"Item {index}: the body ends {length - len(payload)} bytes before its "
                    f"`length` ({length})."
                )
            if pos < len(body):
                if body[pos : pos + 1] == b"\r":  # a CRLF written by hand
                    pos += 1
                if body[pos : pos + 1] != b"\n":
                    raise exceptions.ParseError(
                        f"Item {index}: no newline after its {length}-byte payload."
                    )
                pos += 1
        items.append(Item(type=kind, headers=header, payload=payload))
    return Envelope(headers=headers, items=items)


def payload_object(payload: bytes, what: str) -> dict:
    """An item's payload as a JSON object; ParseError (400) naming the item if it is not."""
    return _object(payload, what)


def store_body(body: bytes) -> dict:
    """The store endpoint's event: JSON, or (old raven SDKs) base64 of deflated JSON."""
    if not body.strip():
        raise exceptions.ParseError("The event is empty.")
    if body.lstrip()[:1] != b"{":
        body = _unpack_legacy(body)
    return _object(body, "event")


def _unpack_legacy(body: bytes) -> bytes:
    try:
        packed = base64.b64decode(body.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise exceptions.ParseError("The event is neither JSON nor base64.") from None
    limit = settings.INGEST_MAX_BODY_BYTES
    inflater = zlib.decompressobj()
    try:
        inflated = inflater.decompress(packed, limit + 1)
    except zlib.error:
        return packed  # base64 of plain JSON; _object() says if it is not
    if len(inflated) > limit or inflater.unconsumed_tail:
        raise PayloadTooLarge(f"Inflated event is larger than {limit} bytes.")
    return inflated
