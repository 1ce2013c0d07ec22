"""What every bench shares beyond the stack: its error, percentiles, an ingest key,
Django in-process."""

import argparse
import math
import os
import signal
import sys
from collections.abc import Callable

from stack import ROOT, Stack, StackError, purge_queues, recreate_database, service_env

THROTTLE_INGEST = "1000000/min"  # far above what a bench sends: it measures, never throttles

# A failed check, or a process of the stack that did not come up (stack raises those):
# either is printed as FAIL and makes the bench exit 1.
BenchError = StackError


def pct(values: list[float], q: float) -> float:
    """Nearest-rank percentile of an unsorted list (q in 0..100)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = min(len(ordered), max(1, math.ceil(q / 100 * len(ordered))))
    return ordered[rank - 1]


def bench_stack(args) -> Stack:
    """The processes of one bench, on its --db-url and --redis-url; their logs go to a
    temporary folder, discarded when the bench went well and named in its error if not."""
    return Stack(
        database_url=args.db_url,
        redis_url=args.redis_url,
        throttle_ingest=THROTTLE_INGEST,
    )


def on_fresh_stack(args, body: Callable[[Stack], list[str]]) -> list[str]:
    """`body(stack)` on the bench's stack, its database dropped, recreated and migrated and
    its Redis queues purged first; every process stopped after, the logs kept only when
    there was a problem (their folder is named in the error)."""
    stack = bench_stack(args)
    problems: list[str] = []
    try:
        name = recreate_database(args.db_url)
        purge_queues(args.redis_url)
        stack.manage_ok("migrate", "--noinput", timeout=300)
        print(f"setup: database {name!r} recreated and migrated", flush=True)
        problems = body(stack)
    finally:
        stack.close()
    if not problems:
        stack.discard_logs()
    return problems


def setup_django(args, *, analytics: bool = False) -> None:
    """Django in this process, configured as the bench's own processes are."""
    env = service_env(
        args.db_url, args.redis_url, throttle_ingest=THROTTLE_INGEST, analytics=analytics
    )
    os.environ.update(env)
    os.environ.pop("PORT", None)  # this process serves nothing
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def ingest_key(stack: Stack, name: str, *, timeout: float) -> str:
    """A new API key with the ingest scope, made by manage.py create_api_key."""
    out = stack.manage_ok("create_api_key", name, "--scope", "ingest", timeout=timeout)
    lines = [line.strip() for line in out.splitlines() if line.strip()]
    if not lines:
        raise BenchError("create_api_key printed no key")
    return lines[-1]


def fresh_stores(parser: argparse.ArgumentParser, database: str, redis_db: int) -> None:
    """--db-url (a throwaway database the bench drops and recreates) and --redis-url
    (a Redis db of the bench's own)."""
    parser.add_argument(
        "--db-url",
        default=f"postgres://postgres@127.0.0.1:5432/{database}",
        help="dropped and recreated!",
    )
    parser.add_argument("--redis-url", default=f"redis://127.0.0.1:6379/{redis_db}")


def bench_main(
    run: Callable[[], list[str]], *, ok: str, summary: Callable[[], None] | None = None
) -> int:
    """Run a bench: SIGTERM still runs its finally blocks (stopping its processes), its
    figures are printed whatever happened, each problem as FAIL; 1 if there was one."""
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        problems = run()
    except BenchError as exc:
        problems = [str(exc)]
    if summary is not None:
        summary()
    if problems:
        for problem in problems:
            print(f"FAIL {problem}")
        return 1
    print(f"\nOK: {ok}")
    return 0
