"""Envelopes and events as the Sentry SDKs build them, for the tests."""

import gzip
import uuid
from datetime import UTC, datetime

import orjson
from rest_framework.test import APIClient

ENVELOPE = "/api/42/envelope/"
STORE = "/api/42/store/"


def sentry_auth(key: str) -> str:
    return f"Sentry sentry_key={key}, sentry_version=7, sentry_client=sentry.python/2.75.0"


def new_event_id() -> str:
    return uuid.uuid4().hex


def exception_event(**fields) -> dict:
    """An event shaped as sentry-python sends a caught ZeroDivisionError."""
    event = {
        "event_id": new_event_id(),
        "timestamp": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        "level": "error",
        "platform": "python",
        "sdk": {"name": "sentry.python", "version": "2.75.0"},
        "release": "shop@1.4.2",
        "environment": "production",
        "tags": {"region": "eu"},
        "user": {"id": "u-17", "ip_address": "203.0.113.77"},
        "exception": {
            "values": [
                {
                    "type": "ZeroDivisionError",
                    "value": "division by zero",
                    "module": None,
                    "mechanism": {"type": "generic", "handled": True},
                    "stacktrace": {
                        "frames": [
                            {
                                "filename": "app/views.py",
                                "function": "checkout",
                                "lineno": 12,
                                "context_line": "    total = price(cart)",
                                "in_app": True,
                            },
                            {
                                "filename": "app/pricing.py",
                                "function": "price",
                                "lineno": 40,
                                "context_line": "    return amount / count",
                                "in_app": True,
                                "vars": {"amount": "10", "count": "0"},
                            },
                        ]
                    },
                }
            ]
        },
    }
    return event | fields


def envelope(*items: tuple[dict, bytes | dict], header: dict | None = None, length=True) -> bytes:
    """Header line, then each (item header, payload): `length` set as the SDKs set it."""
    lines = [orjson.dumps(header or {})]
    for item_header, payload in items:
        data = payload if isinstance(payload, bytes) else orjson.dumps(payload)
        if length:
            item_header = {**item_header, "length": len(data)}
        lines += [orjson.dumps(item_header), data]
    return b"\n".join(lines) + b"\n"


def event_envelope(event: dict, **options) -> bytes:
    return envelope(({"type": "event"}, event), header={"event_id": event["event_id"]}, **options)


def post_envelope(
    body: bytes,
    *,
    key: str | None,
    path: str = ENVELOPE,
    gzip_body=False,
    client: APIClient | None = None,
    **extra,
):
    headers = dict(extra)
    if key is not None:
        headers["HTTP_X_SENTRY_AUTH"] = sentry_auth(key)
    if gzip_body:
        body = gzip.compress(body)
        headers["HTTP_CONTENT_ENCODING"] = "gzip"
    return (client or APIClient()).generic(
        "POST", path, body, content_type="application/x-sentry-envelope", **headers
    )
