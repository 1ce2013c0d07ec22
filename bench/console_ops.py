"""The console bench's operations data set: error logs and devices, for the Errors and
Devices pages (no other bench data set holds them).

A fresh `analytics_bench_console_ops` database (dropped, recreated, migrated) gets,
COPYed in over the last --days (30):
- --errors (1M) error logs: 300 error codes, each with its category, endpoint and
  message; severities info / warning / error / critical at 40/35/20/5 %; a third of
  those older than a day resolved; a context and a short stack trace each;
- --devices (1,000) devices, each with state changes (--state-changes, 200k in all:
  online, offline, idle, updating, error) and Smart Data Filter points (--device-points,
  500k in all: temperature, battery, signal as numbers, `charging` a boolean, the
  firmware as text), busier devices having more of both.

Then VACUUM (ANALYZE). It times nothing: `bench/console.py` loads it (unless
--skip-load) and measures the pages over it.

    DEBUG=true .venv/bin/python bench/console_ops.py [--errors 1000000] [--devices 1000]
"""

import argparse
import random
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta

import orjson
import psycopg
from common import bench_main, fresh_stores, on_fresh_stack

CATEGORIES = ("api", "database", "external_service", "validation", "frontend")
SEVERITIES = (("info", 0.40), ("warning", 0.35), ("error", 0.20), ("critical", 0.05))
STATES = ("online", "offline", "idle", "updating", "error")
FIRMWARE = ("1.4.2", "1.5.0", "1.5.1", "2.0.0-rc1")
ERROR_COLUMNS = (
    "event_id", "timestamp", "received_at", "category", "severity", "error_message",
    "error_code", "endpoint", "user_id", "device_id", "stack_trace", "context", "resolved",
    "resolved_by", "resolved_at", "resolution_notes",
)  # fmt: skip
STATE_COLUMNS = (
    "event_id", "timestamp", "received_at", "device_id", "previous_state", "new_state",
    "changed_by", "reason", "extra_data",
)  # fmt: skip
METRIC_COLUMNS = ("event_id", "timestamp", "received_at", "device_id", "metrics", "stored_reason")


def error_types(rng: random.Random, n: int) -> list[tuple[str, str, str, str]]:
    """(code, category, endpoint, message) of each error type."""
    out = []
    for i in range(n):
        category = CATEGORIES[i % len(CATEGORIES)]
        endpoint = f"/api/v1/{rng.choice(('orders', 'users', 'devices', 'reports', 'auth'))}/"
        cause = rng.choice(("timeout", "refused", "invalid field", "not found", "deadlock"))
        message = f"{category.replace('_', ' ')} failure #{i}: {cause}"
        out.append((f"E{1000 + i}", category, endpoint, message))
    return out


def copy_rows(cur, table: str, columns: tuple[str, ...], rows) -> int:
    n = 0
    with cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)
            n += 1
    return n


def load(args) -> list[str]:
    rng = random.Random(args.seed)
    now = datetime.now(UTC)
    span = args.days * 86_400
    started = time.perf_counter()

    def uid() -> uuid.UUID:
        return uuid.UUID(int=rng.getrandbits(128), version=4)

    def moment() -> datetime:
        return now - timedelta(seconds=rng.uniform(0, span))

    types = error_types(rng, args.error_types)
    # A few types make most errors, as in production.
    type_weights = [1 / (i + 1) for i in range(len(types))]
    severities, severity_weights = zip(*SEVERITIES, strict=True)
    devices = [f"device-{i:04d}" for i in range(args.devices)]
    device_weights = [1 / (i + 1) ** 0.5 for i in range(len(devices))]

    def errors():
        picked = rng.choices(types, type_weights, k=args.errors)
        for code, category, endpoint, message in picked:
            at = moment()
            resolved = at < now - timedelta(days=1) and rng.random() < 1 / 3
            resolved_at = at + timedelta(hours=2) if resolved else None
            yield [
                uid(), at, at, category, rng.choices(severities, severity_weights)[0],
                message, code, endpoint, f"user-{rng.randrange(5000)}",
                rng.choice(devices) if category == "external_service" else "",
                f'File "app/{category}.py", line {rng.randrange(10, 900)}, in handle\n{code}',
                orjson.dumps({"request_id": str(uid()), "attempt": rng.randrange(1, 4)}).decode(),
                resolved, "oncall" if resolved else "", resolved_at, "fixed" if resolved else "",
            ]  # fmt: skip

    def state_changes():
        per_device = rng.choices(devices, device_weights, k=args.state_changes)
        counts: dict[str, int] = {}
        for device in per_device:
            counts[device] = counts.get(device, 0) + 1
        for device, n in counts.items():
            moments = sorted(moment() for _ in range(n))
            state = "online"
            for at in moments:
                new = rng.choice([s for s in STATES if s != state])
                yield [
                    uid(), at, at, device, state, new, rng.choice(("system", "operator")),
                    f"{state} -> {new}", "{}",
                ]  # fmt: skip
                state = new

    def points():
        for device in rng.choices(devices, device_weights, k=args.device_points):
            at = moment()
            metrics = {
                "temperature": round(rng.gauss(45, 8), 1),
                "battery": rng.randrange(0, 101),
                "signal": round(rng.uniform(-95, -40), 1),
                "charging": rng.random() < 0.3,
                "firmware": rng.choice(FIRMWARE),
            }
            reason = rng.choice(("changed", "changed", "snapshot"))
            yield [uid(), at, at, device, orjson.dumps(metrics).decode(), reason]

    with psycopg.connect(args.db_url, autocommit=True) as db, db.cursor() as cur:
        n_errors = copy_rows(cur, "errors_errorlog", ERROR_COLUMNS, errors())
        n_states = copy_rows(cur, "devices_devicestatehistory", STATE_COLUMNS, state_changes())
        n_points = copy_rows(cur, "devices_devicemetric", METRIC_COLUMNS, points())
        cur.execute("VACUUM (ANALYZE)")
    print(
        f"load: {n_errors:,} error logs ({len(types)} types), {n_states:,} state changes and "
        f"{n_points:,} metrics points of {len(devices):,} devices over {args.days} days in "
        f"{time.perf_counter() - started:.0f} s",
        flush=True,
    )
    return []


def parse_args(argv: list[str] | None = None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--errors", type=int, default=1_000_000)
    parser.add_argument("--error-types", type=int, default=300)
    parser.add_argument("--devices", type=int, default=1_000)
    parser.add_argument("--state-changes", type=int, default=200_000)
    parser.add_argument("--device-points", type=int, default=500_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--seed", type=int, default=19)
    fresh_stores(parser, "analytics_bench_console_ops", 7)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    return bench_main(
        lambda: on_fresh_stack(args, lambda stack: load(args)),
        ok="the console's operations data set is loaded.",
    )


if __name__ == "__main__":
    sys.exit(main())
