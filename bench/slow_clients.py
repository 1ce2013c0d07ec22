"""Slow-client bench: health latency and ingest throughput with and without slow clients.

Starts the stack the way `make run` does (`honcho start` with the Procfile)
against a fresh `analytics_bench_slow` database and its own Redis db (13), then:

1. without slow clients: --probes sequential health checks (a new connection
   each, 5 s timeout) -> p50/p99/max, then --items job outcomes POSTed in
   batches of --batch by --ingest-clients threads -> items/s accepted (HTTP)
   and committed in their table;
2. opens --clients slow clients (half trickle their request headers, half the
   body of an ingest POST, one byte per --interval seconds; one the server
   drops is reopened at once, as an attacker would), waits --settle seconds,
   and measures the same again while they trickle on.

    DEBUG=true .venv/bin/python bench/slow_clients.py [--clients 50] [--items 50000]

To compare another way of serving, give gunicorn extra arguments, e.g. the
former sync workers: GUNICORN_CMD_ARGS="--worker-class sync --threads 1" (health then
fails: use --probes 10 --items 10000 --timeout 60 to keep the run short).

Prints figures only; exits non-zero (after printing FAIL) when a health check
gets no 200 within its timeout, or an ingest POST is not answered 202.
"""

import argparse
import http.client
import os
import platform
import signal
import socket
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import psutil
import psycopg
from common import BenchError, pct
from ingest import Server, check_responses, make_bodies, send_all, setup, wait_committed

HEALTH_PATH = "/api/v1/analytics/health"
INGEST_PATH = "/api/v1/analytics/job-outcome"
PROBE_TIMEOUT = 5.0


class SlowClients:
    """`count` connections trickling one byte per `interval` s, from one thread.

    Even-numbered clients send a request line and then one header byte at a
    time, forever; odd-numbered ones send complete headers of an ingest POST
    (Content-Length 4096) and then the body one byte at a time. When the
    server answers or closes one, the first line of its answer is counted and
    the client reconnects.
    """

    def __init__(self, port: int, count: int, key: str, interval: float = 1.0):
        self.port = port
        self.count = count
        self.key = key
        self.interval = interval
        self.socks: dict[int, socket.socket] = {}
        self.opened = 0
        self.failed_connects = 0
        self.answers: Counter[str] = Counter()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="slow-clients", daemon=True)

    def _head(self, index: int) -> bytes:
        if index % 2 == 0:
            return f"GET {HEALTH_PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ".encode()
        return (
            f"POST {INGEST_PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\nX-API-Key: {self.key}\r\n"
            "Content-Type: application/json\r\nContent-Length: 4096\r\n\r\n"
        ).encode()

    def _open(self, index: int) -> None:
        try:
            sock = socket.create_connection(("127.0.0.1", self.port), timeout=2)
            sock.sendall(self._head(index))
        except OSError:
            self.failed_connects += 1
            return
        sock.setblocking(False)
        self.socks[index] = sock
        self.opened += 1

    def _drop(self, index: int, what: str) -> None:
        self.answers[what] += 1
        self.socks.pop(index).close()

    def _tick(self) -> None:
        for index in range(self.count):
            sock = self.socks.get(index)
            if sock is None:
                self._open(index)
                continue
            try:
                data = sock.recv(4096)
            except BlockingIOError:
                data = None
            except OSError as exc:
                self._drop(index, type(exc).__name__)
                continue
            if data is not None:
                first = data.split(b"\r\n", 1)[0].decode(errors="replace")
                self._drop(index, first or "closed without an answer")
                continue
            try:
                sock.send(b"a" if index % 2 == 0 else b" ")
            except BlockingIOError:
                pass
            except OSError as exc:
                self._drop(index, type(exc).__name__)

    def _run(self) -> None:
        for index in range(self.count):
            self._open(index)
        while not self._stop.wait(self.interval):
            self._tick()
        for sock in self.socks.values():
            sock.close()

    @property
    def connected(self) -> int:
        return len(self.socks)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)


def probe_health(port: int, count: int, gap: float = 0.05) -> tuple[list[float], list[str]]:
    """`count` sequential GETs of health, a new connection each: (latencies ms, failures)."""
    latencies, failures = [], []
    for _ in range(count):
        started = time.perf_counter()
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=PROBE_TIMEOUT)
        try:
            conn.request("GET", HEALTH_PATH)
            resp = conn.getresponse()
            resp.read()
            if resp.status == 200:
                latencies.append((time.perf_counter() - started) * 1000)
            else:
                failures.append(f"HTTP {resp.status}")
        except (OSError, http.client.HTTPException) as exc:
            failures.append(f"{type(exc).__name__} after {time.perf_counter() - started:.1f} s")
        finally:
            conn.close()
        time.sleep(gap)
    return latencies, failures


def measure(args, server: Server, db, marker: str, seed: int) -> dict:
    deadline = time.monotonic() + args.timeout
    latencies, failures = probe_health(server.port, args.probes)
    bodies = make_bodies(args.items, args.batch, marker, seed=seed)
    report = send_all(server.port, server.key, bodies, args.ingest_clients, deadline)
    try:
        accepted = check_responses(report, len(bodies), args.items)
        done_at, committed = wait_committed(db, marker, accepted, deadline)
    except BenchError as exc:
        return {"health": latencies, "failures": failures, "ingest_error": str(exc)}
    return {
        "health": latencies,
        "failures": failures,
        "http_rate": accepted / (report.finished - report.started),
        "rate": committed / (done_at - report.started),
        "post_p50": pct([r.latency * 1000 for r in report.results], 50),
        "post_p99": pct([r.latency * 1000 for r in report.results], 99),
    }


def describe(label: str, result: dict) -> list[str]:
    lines = []
    health = result["health"]
    if health:
        lines.append(
            f"{label}: health {len(health)} x 200: p50 {pct(health, 50):.1f} ms, "
            f"p99 {pct(health, 99):.1f} ms, max {max(health):.1f} ms"
        )
    if result["failures"]:
        shown = ", ".join(f"{n} x {what}" for what, n in Counter(result["failures"]).items())
        lines.append(f"{label}: health FAILED {len(result['failures'])} time(s): {shown}")
    if "ingest_error" in result:
        lines.append(f"{label}: ingest FAILED: {result['ingest_error'][:500]}")
    else:
        lines.append(
            f"{label}: ingest {result['rate']:,.0f} items/s committed, "
            f"{result['http_rate']:,.0f} items/s accepted; POST p50 {result['post_p50']:.0f} ms, "
            f"p99 {result['post_p99']:.0f} ms"
        )
    return lines


def web_command() -> str:
    """The Procfile's web command, and GUNICORN_CMD_ARGS (which gunicorn adds) when set."""
    command = "(no web line in the Procfile)"
    for line in (Path(__file__).resolve().parent.parent / "Procfile").read_text().splitlines():
        if line.startswith("web:"):
            command = line.partition(":")[2].strip()
    extra = os.environ.get("GUNICORN_CMD_ARGS")
    return f"{command}, GUNICORN_CMD_ARGS={extra!r}" if extra else command


def run(args) -> list[str]:
    key = setup(args)
    server = Server(args, key)
    slow = None
    problems = []
    try:
        server.start()
        server.wait_healthy(time.monotonic() + 60)
        with psycopg.connect(args.db_url, autocommit=True, connect_timeout=5) as db:
            warmup = make_bodies(200 * args.ingest_clients, 100, "slow-warmup", seed=3)
            report = send_all(server.port, key, warmup, args.ingest_clients, time.monotonic() + 60)
            wait_committed(
                db,
                "slow-warmup",
                check_responses(report, len(warmup), 200 * args.ingest_clients),
                time.monotonic() + 60,
            )
            print(f"server up on :{server.port} ({web_command()})")
            quiet = measure(args, server, db, "slow-without", seed=1)
            for line in describe("without slow clients", quiet):
                print(line)

            slow = SlowClients(server.port, args.clients, key, args.interval)
            slow.start()
            time.sleep(args.settle)
            print(
                f"{args.clients} slow clients: {slow.connected} connected after "
                f"{args.settle:g} s, {slow.opened} connections opened"
            )
            busy = measure(args, server, db, "slow-with", seed=2)
            for line in describe(f"with {args.clients} slow clients", busy):
                print(line)
            answers = ", ".join(f"{n} x {what!r}" for what, n in slow.answers.most_common())
            print(
                f"slow clients: {slow.opened} connections opened, {slow.connected} still open, "
                f"{slow.failed_connects} connects failed; the server ended "
                f"{sum(slow.answers.values())}: {answers or 'none'}"
            )
    finally:
        if slow is not None:
            slow.stop()
        server.stop()
    print()
    print(f"Summary ({psutil.cpu_count()} cores, Python {platform.python_version()}, ", end="")
    print(f"{time.strftime('%Y-%m-%d')}; web: {web_command()}):")
    print()
    print("| | health p50 / p99 / max | ingest items/s committed (accepted) |")
    print("|---|---|---|")
    for label, result in (("without slow clients", quiet), (f"{args.clients} slow clients", busy)):
        health = result["health"]
        figures = (
            f"{pct(health, 50):.1f} / {pct(health, 99):.1f} / {max(health):.1f} ms"
            if health
            else "-"
        )
        if result["failures"]:
            figures += f" ({len(result['failures'])} of {args.probes} unreachable)"
            problems.append(f"{label}: health unreachable {len(result['failures'])} time(s)")
        if "ingest_error" in result:
            ingest = "FAILED"
            problems.append(f"{label}: ingest: {result['ingest_error'][:300]}")
        else:
            ingest = f"{result['rate']:,.0f} ({result['http_rate']:,.0f})"
        print(f"| {label} | {figures} | {ingest} |")
    return problems


def parse_args(argv: list[str] | None = None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=50, help="slow clients")
    parser.add_argument("--interval", type=float, default=1.0, help="seconds between their bytes")
    parser.add_argument("--settle", type=float, default=5.0, help="seconds before measuring")
    parser.add_argument("--probes", type=int, default=50, help="health checks per phase")
    parser.add_argument("--items", type=int, default=50_000, help="items ingested per phase")
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--ingest-clients", type=int, default=4)
    parser.add_argument("--timeout", type=float, default=180, help="bound on each phase (s)")
    parser.add_argument(
        "--db-url",
        default="postgres://postgres@127.0.0.1:5432/analytics_bench_slow",
        help="dropped and recreated!",
    )
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/13")
    args = parser.parse_args(argv)
    if args.clients < 0 or args.probes < 1 or args.items < 1 or not 1 <= args.batch <= 1000:
        parser.error("need --clients >= 0, --probes >= 1, --items >= 1, 1 <= --batch <= 1000")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # run the finally blocks
    try:
        problems = run(args)
    except BenchError as exc:
        problems = [str(exc)]
    if problems:
        for problem in problems:
            print(f"FAIL {problem}")
        return 1
    print("\nOK: health answered every check, every ingest POST was answered 202.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
