"""Sentry envelopes vs REST error ingest: items/s stored, the same errors both ways.

The stack as `make run` starts it (honcho: gunicorn, worker, beat) on a fresh
`analytics_bench_sentry` database. Rounds alternate between the two endpoints so the
machine's spread falls on both alike: --items errors POSTed by 4 clients, --batch per
request, to `/api/v1/analytics/error` as `{"batch": [...]}` and to `/api/42/envelope/`
as envelopes of sentry-python's events (exception with frames and their variables, tags,
user, release, environment, request headers; an SDK sends one event per envelope:
`--batch 1`), the REST items carrying what the events become, timed from the first POST
until every item is in `errors_errorlog`.

    DEBUG=true .venv/bin/python bench/sentry.py [--items 20000] [--batch 250] [--rounds 2]

Exits non-zero (after FAIL) when a POST is refused, an item is rejected, or an accepted
item is not stored.
"""

import random
import sys
import uuid
from datetime import UTC, datetime, timedelta

import orjson
from common import BenchError
from protocol_rounds import Endpoint, Protocol, batches, main

REST_PATH = "/api/v1/analytics/error"
SENTRY_PATH = "/api/42/envelope/"
MAX_BODY = 1024 * 1024


def frames(rng: random.Random) -> list[dict]:
    return [
        {
            "filename": "app/views.py",
            "function": "checkout",
            "module": "app.views",
            "lineno": rng.randint(10, 400),
            "context_line": "    total = price(cart)",
            "in_app": True,
            "vars": {"cart": f"<Cart {rng.randint(1, 9999)}>", "request": "<WSGIRequest>"},
        },
        {
            "filename": "app/pricing.py",
            "function": "price",
            "module": "app.pricing",
            "lineno": rng.randint(10, 400),
            "context_line": "    return amount / count",
            "in_app": True,
            "vars": {"amount": str(rng.randint(1, 500)), "count": "0"},
        },
    ]


def sentry_event(error_type: str, rng: random.Random, now: datetime) -> dict:
    """An event as sentry-python sends a caught exception from a Django view."""
    return {
        "event_id": uuid.uuid4().hex,
        "timestamp": (now - timedelta(seconds=rng.uniform(1, 600))).isoformat(),
        "level": "error",
        "platform": "python",
        "sdk": {"name": "sentry.python.django", "version": "2.75.0"},
        "release": "shop@1.4.2",
        "environment": "production",
        "server_name": "web-1",
        "tags": {"region": rng.choice(("eu", "us")), "plan": rng.choice(("free", "pro"))},
        "user": {"id": f"user-{rng.randint(1, 5000)}"},
        "request": {
            "url": f"https://shop.example/cart/{rng.randint(1, 9999)}",
            "method": "POST",
            "headers": {"User-Agent": "Mozilla/5.0", "Content-Type": "application/json"},
        },
        "exception": {
            "values": [
                {
                    "type": error_type,
                    "value": "division by zero",
                    "mechanism": {"type": "django", "handled": False},
                    "stacktrace": {"frames": frames(rng)},
                }
            ]
        },
    }


def rest_item(event: dict) -> dict:
    """What the envelope's event becomes (apps/sentry_ingest/events.py), as a REST item."""
    exception = event["exception"]["values"][0]
    stack = ["Traceback (most recent call last):"]
    for frame in exception["stacktrace"]["frames"]:
        stack += [
            f'  File "{frame["filename"]}", line {frame["lineno"]}, in {frame["function"]}',
            f"    {frame['context_line'].strip()}",
        ]
    stack.append(f"{exception['type']}: {exception['value']}")
    return {
        "event_id": str(uuid.UUID(event["event_id"])),
        "timestamp": event["timestamp"],
        "category": "api",
        "severity": "error",
        "error_message": f"{exception['type']}: {exception['value']}",
        "error_code": exception["type"],
        "endpoint": event["request"]["url"],
        "user_id": event["user"]["id"],
        "stack_trace": "\n".join(stack),
        "context": {
            "source": "sentry",
            "project_id": "42",
            "tags": {**event["tags"], "project_id": "42"},
            **{k: event[k] for k in ("release", "environment", "level", "platform", "sdk")},
            "server_name": event["server_name"],
            "user": event["user"],
            "request": event["request"],
            "exception": [
                {
                    "type": exception["type"],
                    "value": exception["value"],
                    "mechanism": exception["mechanism"],
                    "frames": exception["stacktrace"]["frames"],
                }
            ],
        },
    }


def envelope(events: list[dict]) -> bytes:
    lines = [orjson.dumps({"event_id": events[0]["event_id"]})]
    for event in events:
        payload = orjson.dumps(event)
        lines += [orjson.dumps({"type": "event", "length": len(payload)}), payload]
    return b"\n".join(lines) + b"\n"


def bodies(
    args, label: str, error_type: str, rng: random.Random, key: str
) -> list[tuple[int, bytes]]:
    now = datetime.now(UTC)
    events = [sentry_event(error_type, rng, now) for _ in range(args.items)]
    chunks = batches(events, args.batch)
    if label == "rest":
        made = [(len(c), orjson.dumps({"batch": [rest_item(e) for e in c]})) for c in chunks]
    else:
        made = [(len(c), envelope(c)) for c in chunks]
    if max(len(body) for _, body in made) > MAX_BODY:
        raise BenchError(f"a {label} body is over 1 MiB: lower --batch")
    return made


SENTRY = Protocol(
    doc=__doc__,
    noun="error",
    redis_db=4,
    items=20_000,
    rest_path=REST_PATH,
    other=Endpoint("sentry", SENTRY_PATH),
    bodies=bodies,
    marker=lambda label, number: f"BenchError{label.title()}{number}",
    stored_sql="SELECT count(*) FROM errors_errorlog WHERE error_code = %s",
    batch=250,
    batch_option=True,
)

if __name__ == "__main__":
    sys.exit(main(SENTRY))
