"""What the protocol benches share (bench/otlp.py, posthog.py, sentry.py): a protocol's
endpoint against the REST ingest of the same items, in alternated rounds on the stack as
`make run` starts it, each round timed from the first POST until every item is stored,
with the CPU the stack used per item. A bench says only what differs: its bodies, its
endpoint, and the table its items land in (`Protocol`)."""

import argparse
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

import orjson
import psycopg
from common import BenchError, bench_main, fresh_stores, ingest_key, on_fresh_stack
from ingest import cpu_snapshot, cpu_used
from ingest_client import PostResult, send_all
from stack import Stack

STACK_ROLES = ("web (gunicorn)", "worker (celery)", "postgres (bench db)")
DEADLINE = 600  # seconds a round may take


@dataclass(frozen=True)
class Endpoint:
    label: str
    path: str
    ok: int = 200  # the status of a POST it took
    # Items one answer accepted, None for all its body's (an answer that counts only the
    # refused); raises BenchError when the POST failed or refused any. By default the
    # ingest answer's count, `{"accepted": n, "rejected": [...]}`.
    read_answer: Callable[[PostResult], int | None] | None = None
    content_type: str = "application/json"

    def accepted(self, result: PostResult) -> int | None:
        if self.read_answer is not None:
            return self.read_answer(result)
        answer = orjson.loads(result.body)
        if result.status != self.ok or answer["rejected"]:
            raise BenchError(f"{self.path} answered {result.status}: {result.body[:300]!r}")
        return answer["accepted"]


@dataclass(frozen=True)
class Protocol:
    """A protocol bench: its endpoint (`other`, whose label names the bench's database,
    `analytics_bench_<label>`) against the REST ingest at `rest_path`."""

    doc: str  # the bench's docstring: its first paragraph is --help's description
    noun: str  # what an item is, in the printed lines: "point", "event", "error"
    redis_db: int  # the bench's own Redis db
    items: int  # --items' default
    rest_path: str
    other: Endpoint
    # (args, endpoint label, the round's marker, rng, ingest key) -> (items, body) a POST
    bodies: Callable[[argparse.Namespace, str, str, random.Random, str], list[tuple[int, bytes]]]
    marker: Callable[[str, int], str]  # (label, round) -> what the round's rows carry
    stored_sql: str  # counts the rows carrying the marker (its one parameter)
    batch: int = 500  # items a request
    batch_option: bool = False  # --batch (default `batch`), printed above the table
    warm_up: Sequence[str] = ("rest",)  # the labels of round 0 (not counted)

    @property
    def endpoints(self) -> tuple[Endpoint, Endpoint]:
        return (Endpoint("rest", self.rest_path, ok=202), self.other)


def batches(items: list, size: int) -> list[list]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def rest_bodies(items: list[dict], size: int) -> list[tuple[int, bytes]]:
    """REST ingest bodies, `{"batch": [...]}` of `size` items each."""
    return [(len(chunk), orjson.dumps({"batch": chunk})) for chunk in batches(items, size)]


def wait_drained(db: psycopg.Connection, deadline: float) -> float:
    """Poll until the ingest outbox holds no live row; returns when (perf_counter)."""
    while True:
        (pending,) = db.execute(
            "SELECT count(*) FROM ingest_outboxbatch WHERE failed_at IS NULL"
        ).fetchone()
        if pending == 0:
            return time.perf_counter()
        if time.monotonic() > deadline:
            raise BenchError(f"{pending} outbox rows still waiting after {DEADLINE} s")
        time.sleep(0.05)


def one_round(
    spec: Protocol, args, stack: Stack, key: str, endpoint: Endpoint, number: int
) -> tuple[float, float]:
    """Send --items through one endpoint; returns items/s stored and the CPU-us per item
    the stack used (web, worker, PostgreSQL's backends for the bench database): a figure
    other programs sharing the machine move less."""
    rng = random.Random(args.seed + number)
    marker = spec.marker(endpoint.label, number)
    bodies = spec.bodies(args, endpoint.label, marker, rng, key)
    deadline = time.monotonic() + DEADLINE
    dbname = urlsplit(args.db_url).path.lstrip("/")
    cpu_before = cpu_snapshot(stack, dbname)
    report = send_all(
        stack.web_port,
        key,
        bodies,
        args.clients,
        deadline,
        path=endpoint.path,
        content_type=endpoint.content_type,
    )
    counted = [endpoint.accepted(result) for result in report.results]
    if None in counted:  # every answer a success with nothing refused: all its items
        counted = [n for n, _ in bodies] if len(counted) == len(bodies) else [0]
    accepted = sum(counted)
    if report.errors or accepted != args.items:
        raise BenchError(
            f"{endpoint.path}: {accepted} of {args.items} accepted; {report.errors[:3]}"
        )
    with psycopg.connect(args.db_url, autocommit=True) as db:
        done = wait_drained(db, deadline)
        (stored,) = db.execute(spec.stored_sql, [marker]).fetchone()
    cpu = cpu_used(cpu_before, cpu_snapshot(stack, dbname))
    if stored != accepted:
        raise BenchError(f"{endpoint.path}: {accepted} accepted but {stored} stored")
    rate = stored / (done - report.started)
    used = {role: seconds / stored * 1e6 for role, seconds in cpu.items()}
    # Redis and PostgreSQL's own processes serve whatever else runs here too: left out.
    stack_us = sum(used.get(role, 0.0) for role in STACK_ROLES)
    shares = ", ".join(
        f"{role} {us:.0f}" for role, us in sorted(used.items(), key=lambda kv: -kv[1]) if us >= 1
    )
    width = max(len(e.label) for e in spec.endpoints)
    print(
        f"round {number} {endpoint.label:>{width}}: {stored:,} {spec.noun}s stored, "
        f"{rate:,.0f} items/s; {stack_us:.0f} CPU-us per item ({shares})",
        flush=True,
    )
    return rate, stack_us


def run(spec: Protocol, args) -> list[str]:
    by_label = {endpoint.label: endpoint for endpoint in spec.endpoints}

    def body(stack: Stack) -> list[str]:
        key = ingest_key(stack, f"bench-{spec.other.label}", timeout=60)
        stack.start_honcho()
        for label in spec.warm_up:  # both web workers, the worker
            one_round(spec, args, stack, key, by_label[label], 0)
        for number in range(1, args.rounds + 1):
            for endpoint in spec.endpoints if number % 2 else spec.endpoints[::-1]:
                args.results.setdefault(endpoint.label, []).append(
                    one_round(spec, args, stack, key, endpoint, number)
                )
        return []

    return on_fresh_stack(args, body)


def print_summary(spec: Protocol, args) -> None:
    print(f"\n{args.batch} {spec.noun}s per request" if spec.batch_option else "")
    print("| endpoint | items/s stored, each round | stack CPU-us per item |\n|---|---|---|")
    for endpoint in spec.endpoints:
        rounds = args.results.get(endpoint.label, [])
        rates = ", ".join(f"{rate:,.0f}" for rate, _ in rounds)
        cpu = ", ".join(f"{us:.0f}" for _, us in rounds)
        print(f"| `{endpoint.path}` | {rates} | {cpu} |")


def parse_args(spec: Protocol, argv: list[str] | None = None):
    parser = argparse.ArgumentParser(description=spec.doc.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=spec.items)
    if spec.batch_option:
        parser.add_argument("--batch", type=int, default=spec.batch)
    else:
        parser.set_defaults(batch=spec.batch)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--seed", type=int, default=7)
    fresh_stores(parser, f"analytics_bench_{spec.other.label}", spec.redis_db)
    args = parser.parse_args(argv)
    if args.batch < 1 or args.items < args.batch or args.rounds < 1 or args.clients < 1:
        parser.error(
            "need --batch >= 1, --items >= --batch, --rounds >= 1, --clients >= 1"
            if spec.batch_option
            else f"need --items >= {spec.batch}, --rounds >= 1, --clients >= 1"
        )
    args.results = {}
    return args


def main(spec: Protocol, argv: list[str] | None = None) -> int:
    """The bench's command line: runs the rounds, prints the table, OK or FAIL."""
    args = parse_args(spec, argv)
    return bench_main(
        lambda: run(spec, args),
        ok=f"every {spec.noun} was accepted and stored, through both endpoints.",
        summary=lambda: print_summary(spec, args),
    )
