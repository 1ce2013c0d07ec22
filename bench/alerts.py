"""Alerts benchmark: one evaluation cycle of many rules over the metrics bench's points.

Reuses the database `make bench-metrics` loads and rolls up (10M points, 20 metrics,
31 days), migrates it, replaces its alert rules with --rules random ones (metric,
optional tag filter, aggregation, window of 1 min to 1 h, threshold) and times
`rules_evaluate()` as the beat task runs it, at the moment the points end. Checks a
sample of rule values against the raw points (count, sum, min, max exactly; avg to
1e-9) and that each firing rule holds exactly one incident.

    make bench-metrics                      # once: loads the points
    DEBUG=true .venv/bin/python bench/alerts.py [--rules 1000] [--cycles 3]
"""

import argparse
import random
import statistics
import sys
import time
from datetime import timedelta

import psycopg
from common import BenchError, bench_stack
from metrics_load import configure_django, loaded_range

AGGREGATIONS = ("avg", "sum", "min", "max", "count", "rate", "p50", "p95", "p99")
WINDOWS = (60, 300, 900, 3600)
EXACT = ("count", "sum", "min", "max", "avg")


def make_rules(count: int, seed: int) -> int:
    from apps.alerts.models import AlertIncident, AlertRule
    from apps.metrics.models import MetricSeries

    rng = random.Random(seed)
    series = list(MetricSeries.objects.values_list("metric_name", "tags"))
    if not series:
        raise BenchError("the bench database holds no metric series: run `make bench-metrics`")
    AlertIncident.objects.all().delete()
    AlertRule.objects.all().delete()
    rules = []
    for i in range(count):
        name, tags = rng.choice(series)
        tag = dict([rng.choice(sorted(tags.items()))]) if tags and rng.random() < 0.5 else {}
        rules.append(
            AlertRule(
                name=f"bench rule {i}",
                metric_name=name,
                tags=tag,
                aggregation=rng.choice(AGGREGATIONS),
                window_seconds=rng.choice(WINDOWS),
                condition_operator=rng.choice(("gt", "lt")),
                threshold=rng.choice((0.0, 1.0, 50.0, 1e6)),
                severity="warning",
            )
        )
    AlertRule.objects.bulk_create(rules)
    return len({(r.metric_name, tuple(sorted(r.tags.items()))) for r in rules})


def evaluate_cycles(cycles: int, now) -> list[dict]:
    from apps.alerts.evaluation import rules_evaluate

    results = []
    for cycle in range(cycles):
        started = time.perf_counter()
        evaluations = rules_evaluate(now=now + timedelta(seconds=cycle))
        elapsed = time.perf_counter() - started
        results.append({"seconds": elapsed, "evaluations": evaluations})
        firing = sum(e.state == "firing" for e in evaluations)
        no_data = sum(e.value is None for e in evaluations)
        print(
            f"cycle {cycle + 1}: {len(evaluations)} rules in {elapsed:.2f} s "
            f"({elapsed / max(len(evaluations), 1) * 1000:.2f} ms a rule); "
            f"{firing} firing, {no_data} without data"
        )
    return results


def check_values(args, evaluations, now, sample: int = 50) -> None:
    from apps.alerts.models import AlertIncident, AlertRule
    from apps.metrics.models import MetricPoint

    table = MetricPoint._meta.db_table
    rules = {r.pk: r for r in AlertRule.objects.all()}
    exact = [e for e in evaluations if rules[e.rule_id].aggregation in EXACT]
    random.Random(args.seed).shuffle(exact)
    with psycopg.connect(args.db_url) as conn:
        for evaluation in exact[:sample]:
            rule = rules[evaluation.rule_id]
            sql = (
                f"SELECT count(*), coalesce(sum(value), 0), min(value), max(value), avg(value) "
                f'FROM {table} WHERE metric_name = %s AND "timestamp" >= %s '
                f'AND "timestamp" < %s AND tags @> %s::jsonb'
            )
            since = now - timedelta(seconds=rule.window_seconds)
            row = conn.execute(
                sql, [rule.metric_name, since, now, psycopg.types.json.Jsonb(rule.tags)]
            ).fetchone()
            expected = dict(zip(EXACT, row, strict=True))[rule.aggregation]
            if rule.aggregation in ("count", "sum"):
                expected = float(expected)
            got = evaluation.value
            same = (got is None and expected is None) or (
                got is not None
                and expected is not None
                and abs(got - expected) <= 1e-9 * max(1, abs(expected))
            )
            if not same:
                raise BenchError(
                    f"{rule.name} ({rule.aggregation}): evaluated {got}, raw {expected}"
                )
    firing = [pk for pk, rule in rules.items() if AlertRule.objects.get(pk=pk).state == "firing"]
    incidents = AlertIncident.objects.filter(status="open").count()
    if incidents != len(firing):
        raise BenchError(f"{len(firing)} rules firing but {incidents} open incidents")
    print(
        f"check: {min(sample, len(exact))} rule values equal the raw points' aggregate; "
        f"{incidents} firing rules, one open incident each"
    )


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rules", type=int, default=1000)
    parser.add_argument("--cycles", type=int, default=3, help="evaluation cycles to time")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--db-url",
        default="postgres://postgres@127.0.0.1:5432/analytics_bench_metrics",
        help="the metrics bench's database (its alert rules are replaced)",
    )
    # db 13 is the slow-clients bench's; each bench has a Redis db of its own.
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/9")
    args = parser.parse_args(argv)
    if args.rules < 1 or args.cycles < 1:
        parser.error("need --rules and --cycles >= 1")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        _, end, points = loaded_range(args)
        stack = bench_stack(args)
        stack.manage_ok("migrate", "--noinput", timeout=300)
        configure_django(args)
        groups = make_rules(args.rules, args.seed)
        print(
            f"setup: {args.rules} rules over {groups} (metric, tag filter) pairs; "
            f"{points:,} points, evaluated at {end:%Y-%m-%d %H:%M} (their end)"
        )
        results = evaluate_cycles(args.cycles, end)
        check_values(args, results[0]["evaluations"], end)
    except BenchError as exc:
        print(f"FAIL: {exc}")
        return 1
    seconds = [r["seconds"] for r in results]
    print()
    print("| Benchmark | Goal | Result |")
    print("|---|---|---|")
    print(
        f"| one evaluation cycle, {args.rules} rules over {points:,} points | < 2 s | "
        f"{statistics.median(seconds):.2f} s median of {len(seconds)} "
        f"({statistics.median(seconds) / args.rules * 1000:.2f} ms a rule) |"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
