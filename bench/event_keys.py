"""What partitioning costs an insert: the event keys against one table's unique index.

A partitioned table cannot hold a unique index on event_id, so each stored item's key
goes into EventKey first, and last week's keys are probed (apps.ingest.partitions). One
table held the same uniqueness in its own index on event_id. Here both shapes take the
same job outcomes, in one run, in a fresh `analytics_bench_keys` database:

- partitioned: the app's `jobs_joboutcome` (a day a partition), written by the app's own
  statement (`apps.ingest.outbox.records_insert`, as the ingest worker writes);
- one table: `jobs_plain`, a plain copy of it (the same columns and indexes) with a
  unique index on event_id, written by the one-table statement (`ON CONFLICT (event_id)
  DO NOTHING`, as before partitions).

First on empty tables (the ingest bench's case), then with --existing job outcomes over
the 90 days kept already stored in both (and the keys of this week's): a table's unique
index grows with everything kept, the keys' with a week. At each volume --rounds rounds
alternate the shapes, each inserting --batches batches of --batch new items, one
transaction a batch; printed per item: the database backend's CPU microseconds and the
wall time.

    DEBUG=true .venv/bin/python bench/event_keys.py [--existing 10000000] [--rounds 3]
"""

import argparse
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta

import orjson
import psutil
from common import BenchError, bench_main, fresh_stores, on_fresh_stack, setup_django

PLAIN = "jobs_plain"


def make_rows(kind, count: int, seed: int) -> list[dict]:
    """`count` new job outcomes, validated as the API validates them."""
    from apps.ingest.validation import validate_items

    now = datetime.now(UTC)
    items = [
        {
            "event_id": str(uuid.uuid4()),
            "job_type": f"type-{n % 20}",
            "status": "success",
            "duration_ms": 100 + n % 5000,
            "device_id": f"device-{(seed * 7919 + n) % 2000}",
            "job_id": f"job-{seed}-{n}",
            "initiated_by": "bench",
            "timestamp": (now - timedelta(seconds=n % 600)).isoformat(),
        }
        for n in range(count)
    ]
    outcome = validate_items(items, resolve_kind=lambda _: kind, request=None)
    if outcome.rejected:
        raise BenchError(f"bench items refused: {outcome.rejected[:1]}")
    return outcome.accepted[kind.name]


def plain_sql(kind) -> str:
    """The one-table statement: rows from a JSON parameter, a duplicate event_id skipped."""
    from django.db import connection

    quote = connection.ops.quote_name
    fields = [f for f in kind.model._meta.concrete_fields if f.column in kind.columns]
    names = ", ".join(quote(f.column) for f in fields)
    defs = ", ".join(f"{quote(f.column)} {f.db_type(connection)}" for f in fields)
    return (
        f"INSERT INTO {PLAIN} ({names}) SELECT {names} "
        f"FROM json_to_recordset(%s::json) AS r({defs}) ON CONFLICT (event_id) DO NOTHING"
    )


def load(table: str, existing: int) -> None:
    """`existing` job outcomes over the 90 days before now, into both shapes, and the keys
    of those stored this week (as the app would have stored them)."""
    from django.db import connection

    from apps.ingest.partitions import CURRENT, KEYS

    with connection.cursor() as cursor:
        cursor.execute(
            f"""INSERT INTO {table} (event_id, "timestamp", received_at, job_id, job_type,
                device_id, status, duration_ms, error_code, error_message, retry_count,
                initiated_by, extra_data)
            SELECT gen_random_uuid(), t, t, 'job-' || n, 'type-' || n %% 20,
                   'device-' || n %% 2000, 'success', 100 + n %% 5000, '', '', 0, 'bench', '{{}}'
            FROM generate_series(1, %s) AS n,
                 LATERAL (SELECT now() - interval '90 days' * n / %s + interval '1 minute') AS x(t)
            """,
            [existing, existing],
        )
        cursor.execute(f"INSERT INTO {PLAIN} SELECT * FROM {table}")
        cursor.execute(
            f"SELECT setval(pg_get_serial_sequence('{PLAIN}', 'id'), max(id)) FROM {PLAIN}"
        )
        cursor.execute(
            f"INSERT INTO {KEYS} (kind, event_id, generation) "
            f"SELECT 'job_outcome', j.event_id, g.generation FROM {table} j, ({CURRENT}) g "
            'WHERE j."timestamp" >= g.generation ON CONFLICT DO NOTHING'
        )
        for name in (table, PLAIN, KEYS):
            cursor.execute(f"VACUUM ANALYZE {name}")


def index_bytes(table: str) -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT coalesce(sum(pg_indexes_size(relid)), 0) FROM pg_partition_tree(%s)",
            [table],
        )
        return int(cursor.fetchone()[0])


def measure(args, kind, label: str) -> None:
    from django.db import connection, transaction

    from apps.ingest.outbox import records_insert
    from apps.ingest.partitions import KEYS

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        backend = psutil.Process(cursor.fetchone()[0])
    statement = plain_sql(kind)

    def plain(rows: list[dict]) -> int:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(statement, [orjson.dumps(rows).decode()])
            return cursor.rowcount

    def partitioned(rows: list[dict]) -> int:
        return records_insert(kind_name=kind.name, rows=rows)

    shapes = {"partitioned, event keys": partitioned, "one table, unique event_id": plain}
    figures: dict[str, list[tuple[float, float]]] = {name: [] for name in shapes}
    seed = 0
    for _ in range(args.rounds):
        for name, insert in shapes.items():
            batches = []
            for _ in range(args.batches):
                seed += 1
                batches.append(make_rows(kind, args.batch, seed))
            cpu = sum(backend.cpu_times()[:2])
            start = time.perf_counter()
            stored = sum(insert(rows) for rows in batches)
            wall = time.perf_counter() - start
            cpu = sum(backend.cpu_times()[:2]) - cpu
            if stored != args.batches * args.batch:
                raise BenchError(f"{name}: {stored} stored of {args.batches * args.batch}")
            items = args.batches * args.batch
            figures[name].append((cpu / items * 1e6, wall / items * 1e6))
    keys = index_bytes(KEYS) / 2**20
    print(f"{label} (the keys' index {keys:,.0f} MiB):", flush=True)
    for name, rounds in figures.items():
        cpu = ", ".join(f"{c:.1f}" for c, _ in rounds)
        wall = ", ".join(f"{w:.1f}" for _, w in rounds)
        print(f"  {name}: database CPU {cpu} us an item, wall {wall} us an item", flush=True)


def run(args) -> list[str]:
    def body(stack) -> list[str]:
        setup_django(args)
        from django.db import connection

        from apps.ingest.registry import get_kind

        kind = get_kind("job_outcome")
        table = kind.model._meta.db_table
        with connection.cursor() as cursor:
            cursor.execute(
                f"CREATE TABLE {PLAIN} (LIKE {table} INCLUDING DEFAULTS INCLUDING IDENTITY "
                "INCLUDING INDEXES)"
            )
            cursor.execute(f"CREATE UNIQUE INDEX jobs_plain_event_id ON {PLAIN} (event_id)")
        measure(args, kind, "empty tables")
        if args.existing:
            began = time.perf_counter()
            load(table, args.existing)
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_relation_size('jobs_plain_event_id')")
                unique = cursor.fetchone()[0] / 2**20
            print(
                f"load: {args.existing:,} job outcomes over 90 days into each shape in "
                f"{time.perf_counter() - began:.0f} s; the one table's unique index on "
                f"event_id {unique:,.0f} MiB",
                flush=True,
            )
            measure(args, kind, f"{args.existing:,} job outcomes stored")
        return []

    return on_fresh_stack(args, body)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--existing", type=int, default=10_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batches", type=int, default=100)
    parser.add_argument("--batch", type=int, default=500)
    fresh_stores(parser, "analytics_bench_keys", 8)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    return bench_main(lambda: run(args), ok="both shapes stored every item once.")


if __name__ == "__main__":
    sys.exit(main())
