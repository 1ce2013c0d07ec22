"""Health benchmark: one check cycle of many monitored services, some of them hanging,
and the public health answer under load.

1. Check cycle. A fresh `analytics_bench_health` database holds --services HTTP
   services, all pointing at a server this bench starts on 127.0.0.1 (its own process);
   --hanging of them ask a path that answers only after the checks gave up. One cycle
   runs as beat's task runs it (`checks_run_due`), first without the hanging services,
   then with them. Goals: the cycle with hanging services ends within one --check-timeout
   plus a second, and the other services' checks take no longer than without them
   (their p50/p99 response times are printed side by side).
2. `GET /api/v1/analytics/health` under load: the Procfile's web command (gunicorn) with
   a Celery worker and beat up, so the answer is `healthy`; --probers threads ask it
   every --pause s, as load balancers do, first with nothing else going on, then while
   --ingest-clients POST batches of 500 job outcomes as fast as they are answered.
   Prints p50/p99 of both (goal: p99 < 50 ms when the machine is not saturated).

    DEBUG=true .venv/bin/python bench/health.py [--services 200] [--hanging 10]

Exits non-zero (after FAIL) when a goal is missed, a healthy service was not found
healthy, a hanging one was not found unhealthy, or the health answer was not 200 healthy.
"""

import argparse
import http.client
import sys
import threading
import time
from datetime import timedelta

import orjson
from common import (
    BenchError,
    bench_main,
    fresh_stores,
    ingest_key,
    on_fresh_stack,
    pct,
    setup_django,
)
from ingest_client import make_bodies, send_all
from stack import ROOT, Stack, free_port, port_open

HEALTH_PATH = "/api/v1/analytics/health"


def start_target(stack: Stack, hang_seconds: float) -> int:
    port = free_port()
    stack.spawn(
        "target",
        [sys.executable, str(ROOT / "bench/health_target.py"), str(port), str(hang_seconds)],
    )
    stack.wait("target", lambda: port_open(port), timeout=10, what="the target server")
    return port


def make_services(args, port: int) -> None:
    from apps.monitoring.models import MonitoredService
    from apps.monitoring.services import service_create

    MonitoredService.objects.all().delete()
    for i in range(args.services):
        hanging = i % (args.services // args.hanging) == 0 if args.hanging else False
        service_create(
            data={
                "name": f"{'hanging' if hanging else 'service'}-{i:04d}",
                "check_type": "http",
                "target": f"http://127.0.0.1:{port}/{'hang' if hanging else 'ok'}",
                "interval_seconds": 60,
                "timeout_seconds": args.check_timeout,
            },
            actor="bench",
        )


def one_cycle(label: str, now) -> dict:
    from apps.monitoring.services import checks_run_due

    started = time.perf_counter()
    recorded = checks_run_due(now=now, all_services=True)
    seconds = time.perf_counter() - started
    fast = [c.response_time_ms for c in recorded if not c.service.name.startswith("hanging")]
    hanging = [c for c in recorded if c.service.name.startswith("hanging")]
    healthy = sum(c.status == "healthy" for c in recorded if c not in hanging)
    result = {
        "label": label,
        "seconds": seconds,
        "checks": len(recorded),
        "fast_p50": pct(fast, 50),
        "fast_p99": pct(fast, 99),
        "fast_healthy": healthy,
        "fast": len(fast),
        "hanging_unhealthy": sum(c.status == "unhealthy" for c in hanging),
        "hanging": len(hanging),
    }
    print(
        f"cycle {label}: {len(recorded)} checks in {seconds:.2f} s; the others answered in "
        f"p50 {result['fast_p50']:.1f} ms, p99 {result['fast_p99']:.1f} ms"
    )
    return result


def bench_cycle(args, stack: Stack) -> list[str]:
    from django.utils import timezone

    from apps.monitoring.models import MonitoredService

    port = start_target(stack, hang_seconds=args.check_timeout * 10)
    make_services(args, port)
    now = timezone.now()
    hanging = MonitoredService.objects.filter(name__startswith="hanging")
    hanging.update(enabled=False)
    one_cycle("warm-up, without the hanging services", now)
    calm = one_cycle("without the hanging services", now + timedelta(minutes=1))
    hanging.update(enabled=True)
    rough = one_cycle(f"with {args.hanging} hanging", now + timedelta(minutes=2))

    problems = []
    limit = args.check_timeout + 1
    if rough["seconds"] > limit:
        problems.append(f"the cycle took {rough['seconds']:.2f} s (> timeout + 1 s = {limit:g} s)")
    for result in (calm, rough):
        if result["fast_healthy"] != result["fast"]:
            problems.append(
                f"{result['label']}: {result['fast'] - result['fast_healthy']} not healthy"
            )
    if rough["hanging_unhealthy"] != rough["hanging"] or rough["hanging"] != args.hanging:
        problems.append(
            f"{rough['hanging_unhealthy']} of {args.hanging} hanging services unhealthy"
        )
    # The others must not wait for the hanging ones: their checks take about as long.
    if rough["fast_p50"] > max(3 * calm["fast_p50"], calm["fast_p50"] + 50):
        problems.append("the other services' checks were delayed by the hanging ones")
    args.results["cycle"] = (calm, rough)
    return problems


def probe(port: int, stop: threading.Event, pause: float, latencies: list, bad: list) -> None:
    """Ask for health every `pause` s, as a load balancer does, on one kept-alive connection."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    while not stop.is_set():
        started = time.perf_counter()
        conn.request("GET", HEALTH_PATH)
        response = conn.getresponse()
        body = response.read()
        latencies.append((time.perf_counter() - started) * 1000)
        if response.status != 200 or orjson.loads(body)["status"] != "healthy":
            bad.append(f"{response.status} {body[:200]!r}")
        stop.wait(pause)
    conn.close()


def probed(args, port: int, while_running=None) -> dict:
    """Health latencies from --probers probing for --seconds (or while `while_running`
    runs, if it ends first)."""
    latencies: list[float] = []
    bad: list[str] = []
    stop = threading.Event()
    probers = [
        threading.Thread(target=probe, args=(port, stop, args.pause, latencies, bad))
        for _ in range(args.probers)
    ]
    for prober in probers:
        prober.start()
    if while_running is not None:
        while_running.join(args.seconds)
    else:
        stop.wait(args.seconds)
    stop.set()
    for prober in probers:
        prober.join()
    return {
        "answers": len(latencies),
        "p50": pct(latencies, 50),
        "p99": pct(latencies, 99),
        "bad": bad,
    }


def wait_healthy(port: int) -> None:
    """Until the worker's and beat's signs of life are in."""
    deadline = time.monotonic() + 30
    while True:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        conn.request("GET", HEALTH_PATH)
        status = orjson.loads(conn.getresponse().read())["status"]
        conn.close()
        if status == "healthy":
            return
        if time.monotonic() > deadline:
            raise BenchError("the health answer never became healthy")
        time.sleep(0.2)


def bench_health_answer(args, stack: Stack) -> list[str]:
    stack.start_worker()
    stack.start_beat()
    base = stack.start_web(workers=args.web_workers)
    port = int(base.rsplit(":", 1)[1])
    wait_healthy(port)
    key = ingest_key(stack, "bench", timeout=60)
    idle = probed(args, port)
    bodies = make_bodies(args.items, 500, "bench", seed=7)
    sent = {}
    ingest = threading.Thread(
        target=lambda: sent.update(
            report=send_all(port, key, bodies, args.ingest_clients, time.monotonic() + 300)
        )
    )
    ingest.start()
    time.sleep(0.5)  # the ingest is under way before the probes start
    loaded = probed(args, port, while_running=ingest)
    ingest.join()
    report = sent["report"]
    posts = [r for r in report.results if r.status == 202]
    items = sum(orjson.loads(r.body)["accepted"] for r in posts)
    loaded["ingest_rate"] = items / (report.finished - report.started)
    args.results["health"] = (idle, loaded)
    for label, result in (("idle", idle), ("under ingest load", loaded)):
        print(
            f"health {label}: {result['answers']:,} answers to {args.probers} probers; "
            f"p50 {result['p50']:.1f} ms, p99 {result['p99']:.1f} ms"
        )
    print(f"ingest meanwhile: {loaded['ingest_rate']:,.0f} items/s accepted")
    problems = []
    for label, result in (("idle", idle), ("under load", loaded)):
        if result["bad"]:
            problems.append(
                f"{label}: {len(result['bad'])} answers not 200 healthy: {result['bad'][0]}"
            )
    # The goal holds for the answer itself; under load it shares two saturated cores
    # with the ingest, PostgreSQL and the worker, so that figure is reported, not judged.
    if idle["p99"] > 50:
        problems.append(f"health p99 {idle['p99']:.1f} ms (> 50 ms)")
    if report.errors or len(posts) != len(report.results):
        problems.append(
            f"ingest: {len(report.errors)} errors, {len(report.results) - len(posts)} not 202"
        )
    return problems


def print_summary(args) -> None:
    print("\n| figure | value |\n|---|---|")
    if "cycle" in args.results:
        calm, rough = args.results["cycle"]
        print(
            f"| cycle of {args.services} services, {args.hanging} hanging "
            f"(timeout {args.check_timeout:g} s) | {rough['seconds']:.2f} s |"
        )
        print(
            f"| the others' checks, without / with hanging ones (p50) | "
            f"{calm['fast_p50']:.1f} / {rough['fast_p50']:.1f} ms |"
        )
    if "health" in args.results:
        idle, loaded = args.results["health"]
        print(
            f"| `{HEALTH_PATH}` idle, {args.probers} probers (p50 / p99) | "
            f"{idle['p50']:.1f} / {idle['p99']:.1f} ms |"
        )
        print(
            f"| the same while {args.ingest_clients} clients ingest "
            f"({loaded['ingest_rate']:,.0f} items/s) | "
            f"{loaded['p50']:.1f} / {loaded['p99']:.1f} ms |"
        )


def run(args) -> list[str]:
    def body(stack: Stack) -> list[str]:
        setup_django(args)
        return bench_cycle(args, stack) + bench_health_answer(args, stack)

    return on_fresh_stack(args, body)


def parse_args(argv: list[str] | None = None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--services", type=int, default=200)
    parser.add_argument("--hanging", type=int, default=10)
    parser.add_argument("--check-timeout", type=float, default=3.0, help="each check's (s)")
    parser.add_argument("--probers", type=int, default=4, help="threads asking for health")
    parser.add_argument("--pause", type=float, default=0.05, help="between a prober's asks (s)")
    parser.add_argument("--seconds", type=float, default=10.0, help="how long they ask")
    parser.add_argument("--items", type=int, default=100_000, help="ingested during the probes")
    parser.add_argument("--ingest-clients", type=int, default=2)
    parser.add_argument("--web-workers", type=int, default=2)
    fresh_stores(parser, "analytics_bench_health", 11)
    args = parser.parse_args(argv)
    if args.services < 1 or not 0 <= args.hanging <= args.services or args.probers < 1:
        parser.error("need --services >= 1, 0 <= --hanging <= --services, --probers >= 1")
    args.results = {}
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    return bench_main(
        lambda: run(args),
        ok="the hanging services delayed no one; health answered 200 healthy throughout.",
        summary=lambda: print_summary(args),
    )


if __name__ == "__main__":
    sys.exit(main())
