"""The ingest bench's client side: job-outcome bodies, POSTs from threads, the checks.

bench/slow_clients.py measures ingest with the same pieces.
"""

import http.client
import itertools
import random
import threading
import time
import uuid
from dataclasses import dataclass, field

import orjson
from common import BenchError
from stack import INGEST_PATH

JOB_TYPES = ("device_restart", "firmware_update", "config_push", "log_upload", "reboot_check")
ERROR_CODES = ("E_TIMEOUT", "E_OFFLINE", "E_CHECKSUM")


def make_bodies(total: int, batch: int, marker: str, seed: int) -> list[tuple[int, bytes]]:
    rng = random.Random(seed)
    bodies = []
    for start in range(0, total, batch):
        items = []
        for n in range(start, min(total, start + batch)):
            failed = rng.random() < 0.1
            item = {
                "event_id": str(uuid.uuid4()),
                "job_type": JOB_TYPES[n % len(JOB_TYPES)],
                "status": "failed" if failed else "success",
                "duration_ms": rng.randint(50, 30_000),
                "device_id": f"device-{rng.randint(1, 2000)}",
                "job_id": f"job-{n}",
                "initiated_by": marker,
            }
            if failed:
                item["error_code"] = rng.choice(ERROR_CODES)
                item["error_message"] = "device did not answer within the deadline"
                item["retry_count"] = rng.randint(0, 3)
            items.append(item)
        bodies.append((len(items), orjson.dumps({"batch": items})))
    return bodies


@dataclass
class PostResult:
    latency: float
    status: int
    body: bytes


@dataclass
class SendReport:
    results: list[PostResult] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    started: float = 0.0
    finished: float = 0.0


def send_all(
    port: int,
    key: str,
    bodies: list[tuple[int, bytes]],
    clients: int,
    deadline: float,
    path: str = INGEST_PATH,
    content_type: str = "application/json",
):
    """POST every body once to `path`, spread over `clients` threads with one connection
    each."""
    report = SendReport()
    headers = {"X-API-Key": key, "Content-Type": content_type, "Connection": "keep-alive"}
    next_index = itertools.count().__next__  # atomic under the GIL
    go = threading.Event()
    lock = threading.Lock()

    def client() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        mine: list[PostResult] = []
        go.wait()
        while True:
            index = next_index()
            if index >= len(bodies):
                break
            if time.monotonic() > deadline:
                with lock:
                    report.errors.append(f"deadline passed before batch {index}")
                break
            body = bodies[index][1]
            started = time.perf_counter()
            try:
                conn.request("POST", path, body=body, headers=headers)
                resp = conn.getresponse()
                data = resp.read()
            except (OSError, http.client.HTTPException) as exc:
                conn.close()  # http.client reconnects on the next request
                with lock:
                    report.errors.append(f"batch {index}: {type(exc).__name__}: {exc}")
                continue
            mine.append(PostResult(time.perf_counter() - started, resp.status, data))
        conn.close()
        with lock:
            report.results.extend(mine)

    threads = [
        threading.Thread(target=client, name=f"client-{i}", daemon=True) for i in range(clients)
    ]
    for thread in threads:
        thread.start()
    report.started = time.perf_counter()
    go.set()
    give_up = max(deadline, time.monotonic()) + 130  # a request may still be under way
    for thread in threads:
        thread.join(max(0.0, give_up - time.monotonic()))
    report.finished = time.perf_counter()
    if any(thread.is_alive() for thread in threads):
        report.errors.append("a client thread is still running after the deadline")
    return report


def check_responses(report: SendReport, expected_posts: int, expected_items: int) -> int:
    """Every POST 202, nothing rejected; returns the accepted count (raises otherwise)."""
    problems = report.errors[:5]
    if len(report.errors) > 5:
        problems.append(f"... and {len(report.errors) - 5} more errors")
    accepted = 0
    statuses: dict[int, int] = {}
    for result in report.results:
        statuses[result.status] = statuses.get(result.status, 0) + 1
        if result.status != 202:
            if len(problems) < 5:
                problems.append(f"HTTP {result.status}: {result.body[:300]!r}")
            continue
        payload = orjson.loads(result.body)
        accepted += payload["accepted"]
        if payload["rejected"] and len(problems) < 5:
            problems.append(f"rejected items: {orjson.dumps(payload['rejected'][:3]).decode()}")
    if len(report.results) != expected_posts:
        problems.append(f"{len(report.results)} responses for {expected_posts} POSTs")
    if statuses.keys() - {202}:
        problems.append(f"status counts {statuses}")
    if accepted != expected_items:
        problems.append(f"accepted {accepted} of {expected_items} items sent")
    if problems:
        raise BenchError("; ".join(problems))
    return accepted


def wait_committed(db, marker: str, expected: int, deadline: float) -> tuple[float, int]:
    """Poll until `expected` rows with `marker` are committed; returns (when, count).

    Polls the small outbox table (cheap) and counts the big table only once the
    job_outcome outbox holds no live row; that count is then final.
    """
    while True:
        pending, failed = db.execute(
            "SELECT count(*) FILTER (WHERE failed_at IS NULL), "
            "count(*) FILTER (WHERE failed_at IS NOT NULL) "
            "FROM ingest_outboxbatch WHERE kind = 'job_outcome'"
        ).fetchone()
        if pending == 0:
            when = time.perf_counter()
            (count,) = db.execute(
                "SELECT count(*) FROM jobs_joboutcome WHERE initiated_by = %s", [marker]
            ).fetchone()
            if count == expected:
                return when, count
            raise BenchError(
                f"outbox drained but {count} rows committed for {expected} accepted "
                f"({failed} outbox row(s) parked as failed)"
            )
        if time.monotonic() > deadline:
            (count,) = db.execute(
                "SELECT count(*) FROM jobs_joboutcome WHERE initiated_by = %s", [marker]
            ).fetchone()
            raise BenchError(
                f"timed out: {count} of {expected} rows committed, {pending} outbox row(s) "
                f"pending, {failed} failed"
            )
        time.sleep(0.05)
