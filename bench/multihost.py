"""The multi-host run: deploy/README.md's layout on hosts simulated in network namespaces
(two web hosts behind nginx, two worker hosts, a beat host, PostgreSQL primary and
replica, Redis), ingest at a steady load through nginx, then one web host and one worker
host lost (link down, every process killed) and brought back. Prints items/s accepted
and stored before, during and after, the longest gap in each kind of answer, and whether
every accepted item was stored exactly once. Needs root (network namespaces) and nginx
(`make test-deps`).

Usage: make bench-multihost
       DEBUG=true .venv/bin/python bench/multihost.py --rate 2000 --phase 20
"""

import argparse
import sys

from common import BenchError
from stack.hosts import namespaces_usable
from stack.multihost import run
from stack.postgres import server_programs_missing


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=int, default=2000, help="items/s the clients send")
    parser.add_argument("--batch", type=int, default=50, help="items per request")
    parser.add_argument("--senders", type=int, default=8, help="client threads")
    parser.add_argument("--phase", type=float, default=20.0, help="seconds of each phase")
    args = parser.parse_args()
    if reason := namespaces_usable() or server_programs_missing():
        raise BenchError(reason)
    figures = run(rate=args.rate, batch=args.batch, senders=args.senders, phase_seconds=args.phase)
    print(
        f"\n{args.rate} items/s sent in batches of {args.batch} by {args.senders} clients; "
        f"web1 and worker1 lost for {args.phase:g} s"
    )
    header = ("phase", "accepted/s", "stored/s", "p50 ms", "max ms", "failed answers")
    print("| " + " | ".join(header) + " |\n|" + "---|" * len(header))
    for row in figures["phases"]:
        failed = ", ".join(f"{n} x {s or 'none'}" for s, n in row["failed_answers"].items())
        print(
            f"| {row['phase']} | {row['accepted_per_s']:,} | {row['stored_per_s']:,} | "
            f"{row['ingest_p50_ms']} | {row['ingest_max_ms']} | {failed or '-'} |"
        )
    print("\nlongest gap without a successful answer, seconds (failed probes):")
    for row in figures["phases"]:
        gaps = ", ".join(
            f"{stream} {gap:g}"
            + (f" ({row['probe_failures'][stream]})" if row["probe_failures"].get(stream) else "")
            for stream, gap in row["max_gap_s"].items()
        )
        print(f"  {row['phase']}: {gaps}")
    print(
        f"\nrestarted hosts serving after {figures['restart_seconds']} s; "
        f"every accepted item stored {figures['drain_seconds']} s after the load stopped; "
        f"batches sent again: {figures['retries']}"
    )
    print(f"primary's connections left by the lost hosts: {figures['orphaned_connections']}")
    ok = True
    for kind, counts in figures["exactly_once"].items():
        print(f"  {kind}: " + ", ".join(f"{k} {v:,}" for k, v in counts.items()))
        ok &= counts["missing"] == counts["duplicates"] == counts["unexpected"] == 0
        ok &= counts["accepted"] == counts["stored"]
    if figures["refused"]:
        print(f"refused: {figures['refused'][:3]}")
        ok = False
    print("every accepted item stored exactly once" if ok else "NOT exactly once")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
