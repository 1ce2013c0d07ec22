"""PostHog capture vs REST events ingest: items/s stored, the same events both ways.

The stack as `make run` starts it (honcho: gunicorn, worker, beat) on a fresh
`analytics_bench_posthog` database. Rounds alternate between the two endpoints so the
machine's spread falls on both alike: --items product events POSTed by 4 clients in
batches of 500, to `/api/v1/analytics/events` as `{"batch": [...]}` and to `/batch/` as
posthog-python sends them (`{"api_key", "batch", "sent_at"}`, properties with `$lib`,
`$session_id`), the REST items carrying what PostHog's become (the same rows stored),
timed from the first POST until every item is in `events_event`.

    DEBUG=true .venv/bin/python bench/posthog.py [--items 50000] [--rounds 2]

Exits non-zero (after FAIL) when a POST is refused, an item is rejected, or an accepted
item is not stored.
"""

import random
import sys
import uuid
from datetime import UTC, datetime, timedelta

import orjson
from protocol_rounds import Endpoint, Protocol, batches, main, rest_bodies

BATCH = 500
REST_PATH = "/api/v1/analytics/events"
POSTHOG_PATH = "/batch/"


def properties(rng: random.Random) -> dict:
    """An event's properties as posthog-python sends them, less `$session_id`: what both
    endpoints store as its metadata, so both store the same rows."""
    return {
        "scenario_id": f"scenario-{rng.randint(1, 300)}",
        "plan": rng.choice(("free", "pro", "team")),
        "duration_ms": rng.randint(10, 20_000),
        "$lib": "posthog-python",
        "$lib_version": "7.91.1",
        "$geoip_disable": True,
    }


def rest_items(n: int, event_type: str, rng: random.Random) -> list[dict]:
    now = datetime.now(UTC)
    return [
        {
            "event_id": str(uuid.uuid4()),
            "event_type": event_type,
            "user_id": f"user-{rng.randint(1, 5000)}",
            "session_id": f"sess-{rng.randint(1, 20000)}",
            "metadata": properties(rng),
            "timestamp": (now - timedelta(seconds=rng.uniform(1, 600))).isoformat(),
        }
        for _ in range(n)
    ]


def posthog_bodies(n: int, event: str, rng: random.Random, key: str) -> list[tuple[int, bytes]]:
    now = datetime.now(UTC)
    events = [
        {
            "event": event,
            "distinct_id": f"user-{rng.randint(1, 5000)}",
            "uuid": str(uuid.uuid4()),
            "timestamp": (now - timedelta(seconds=rng.uniform(1, 600))).isoformat(),
            "properties": {**properties(rng), "$session_id": f"sess-{rng.randint(1, 20000)}"},
        }
        for _ in range(n)
    ]
    sent_at = now.isoformat()
    return [
        (len(chunk), orjson.dumps({"api_key": key, "batch": chunk, "sent_at": sent_at}))
        for chunk in batches(events, BATCH)
    ]


def bodies(args, label: str, event: str, rng: random.Random, key: str) -> list[tuple[int, bytes]]:
    if label == "rest":
        return rest_bodies(rest_items(args.items, event, rng), BATCH)
    return posthog_bodies(args.items, event, rng, key)


POSTHOG = Protocol(
    doc=__doc__,
    noun="event",
    redis_db=5,
    items=50_000,
    rest_path=REST_PATH,
    other=Endpoint("posthog", POSTHOG_PATH),
    bodies=bodies,
    marker=lambda label, number: f"bench_{label}_{number}",
    stored_sql="SELECT count(*) FROM events_event WHERE event_type = %s",
    batch=BATCH,
)

if __name__ == "__main__":
    sys.exit(main(POSTHOG))
