"""Live feed benchmark: how fast a push reaches many WebSocket clients.

A fresh `analytics_bench_live` database and the Procfile's `live` process (uvicorn,
channels) with DASHBOARD_STATS every second. --clients clients connect with a read key
(`?key=`), timed; then for --seconds every DASHBOARD_STATS push is timed from its
`generated_at` to its arrival at each client: p50/p99/max over every delivery, and
whether every client got every push.

    DEBUG=true .venv/bin/python bench/live.py [--clients 500] [--seconds 10]

Exits non-zero (after FAIL) when a client is refused or misses a push.
"""

import argparse
import asyncio
import os
import sys
import time
from datetime import datetime

import orjson
from common import bench_main, fresh_stores, on_fresh_stack, pct
from stack import Stack
from websockets.asyncio.client import connect

DASHBOARD = "DASHBOARD_STATS"


async def watch(url: str, seconds: float, arrivals: dict, index: int) -> None:
    async with connect(url, open_timeout=30, max_queue=None) as ws:
        end = time.monotonic() + seconds
        while (left := end - time.monotonic()) > 0:
            try:
                text = await asyncio.wait_for(ws.recv(), left)
            except TimeoutError:
                break
            arrived = time.time()
            message = orjson.loads(text)
            if message["type"] == DASHBOARD:
                sent = datetime.fromisoformat(message["data"]["generated_at"]).timestamp()
                arrivals.setdefault(message["data"]["generated_at"], {})[index] = arrived - sent


async def clients(args, url: str) -> tuple[float, dict]:
    arrivals: dict[str, dict[int, float]] = {}
    started = time.perf_counter()
    tasks = [
        asyncio.create_task(watch(url, args.seconds, arrivals, i)) for i in range(args.clients)
    ]
    await asyncio.gather(*tasks)
    return time.perf_counter() - started, arrivals


def bench(args, stack: Stack) -> list[str]:
    key = stack.manage_ok("create_api_key", "bench-live", "--scope", "read").split()[-1]
    os.environ.update(LIVE_DASHBOARD_SECONDS="1", ANALYTICS_BROADCAST_SECONDS="10")
    port = stack.start_live()
    elapsed, arrivals = asyncio.run(clients(args, f"ws://127.0.0.1:{port}/ws/analytics/?key={key}"))
    # The first push a client sees may be the stored latest, sent on connecting: left out.
    pushes = sorted(arrivals)[1:]
    delays = [d * 1000 for push in pushes for d in arrivals[push].values()]
    missed = sum(args.clients - len(arrivals[push]) for push in pushes[:-1])
    args.results = {
        "pushes": len(pushes),
        "deliveries": len(delays),
        "p50": pct(delays, 50),
        "p99": pct(delays, 99),
        "max": max(delays, default=0),
        "missed": missed,
    }
    print(
        f"{args.clients} clients, {len(pushes)} pushes, {len(delays):,} deliveries: "
        f"delay p50 {args.results['p50']:.1f} ms, p99 {args.results['p99']:.1f} ms, "
        f"max {args.results['max']:.1f} ms; {missed} missed ({elapsed:.1f} s in all)"
    )
    problems = []
    if missed:
        problems.append(f"{missed} deliveries missed")
    if len(pushes) < args.seconds - 3:
        problems.append(f"only {len(pushes)} pushes in {args.seconds} s")
    return problems


def print_summary(args) -> None:
    if not getattr(args, "results", None):
        return
    r = args.results
    print("\n| figure | value |\n|---|---|")
    print(f"| DASHBOARD_STATS push to {args.clients} clients, delay from `generated_at` "
          f"p50 / p99 / max | {r['p50']:.1f} / {r['p99']:.1f} / {r['max']:.1f} ms |")  # fmt: skip
    print(f"| deliveries missed | {r['missed']} of {r['deliveries']:,} |")


def run(args) -> list[str]:
    return on_fresh_stack(args, lambda stack: bench(args, stack))


def parse_args(argv: list[str] | None = None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=500)
    parser.add_argument("--seconds", type=int, default=10)
    fresh_stores(parser, "analytics_bench_live", 8)
    args = parser.parse_args(argv)
    if args.clients < 1 or args.seconds < 5:
        parser.error("need --clients >= 1 and --seconds >= 5")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    return bench_main(
        lambda: run(args),
        ok="every client got every push.",
        summary=lambda: print_summary(args),
    )


if __name__ == "__main__":
    sys.exit(main())
