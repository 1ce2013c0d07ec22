"""Product insights benchmark: tracking a day of a million events, and the dashboard.

1. Load. A fresh `analytics_bench_insights` database gets --events events of yesterday
   (UTC) from --users users and --agents agents (contracts, credits, agent calls, bids,
   scores, orchestrations, security events, plain logins), --activity page views and
   clicks and --requests request logs the same day, COPYed in.
2. Tracking. `POST /api/v1/analytics/batch-track` for that day through gunicorn (the
   project's config) with an admin key: every user, agent and the platform (goal: under
   3 s, a tenth of the replaced system's 30 s for 1,000 entities). Then the same again
   (nothing tracked twice) and with `force` (everything recomputed). One user's and one
   agent's figures are checked against the rows.
3. Dashboard. The 29 days before are tracked too (empty), the dashboard's figures are
   rolled up (`manage.py rollup_dashboard`, as beat does each hour), then
   `/dashboard?days=30` is asked --reads times on one kept-alive connection: p50/p99.
   With --before REV, a second gunicorn serves the same database from that commit
   (`git archive`, the repository untouched) and the two are asked in turns, the same
   minutes: the figures of both and their ratio, and whether their answers agree.

    DEBUG=true .venv/bin/python bench/insights.py [--events 1000000] [--users 1000]
    DEBUG=true .venv/bin/python bench/insights.py --skip-load --before HEAD~1

Exits non-zero (after FAIL) when an answer is not 200, an entity is missing or counted
twice, or a checked figure differs from the rows.
"""

import argparse
import http.client
import random
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta

import orjson
import psycopg
from common import BenchError, bench_main, bench_stack, fresh_stores, on_fresh_stack, pct
from stack import BIN, ROOT, Stack, free_port, health_ok, wait_until

# Event type: (share of the events, metadata maker). Shares add up to 1.
KINDS = {
    "agent_called": 0.40,
    "login": 0.14,
    "bid_placed": 0.08,
    "credits_spent": 0.06,
    "contract_created": 0.05,
    "orchestration_run": 0.05,
    "contract_completed": 0.04,
    "credits_purchased": 0.03,
    "contract_won": 0.02,
    "validation_scored": 0.02,
    "reputation_scored": 0.02,
    "contract_cancelled": 0.0045,
    "contract_failed": 0.0045,
    "security_event": 0.0008,
    "fraud_alert": 0.0002,
}
EVENT_COLUMNS = (
    "event_id", "timestamp", "received_at", "event_type", "user_id", "family_unit_id",
    "session_id", "metadata", "created_at",
)  # fmt: skip
ACTIVITY_COLUMNS = (
    "event_id", "timestamp", "received_at", "user_id", "activity_type", "page_url",
    "element_id", "search_query", "session_id", "duration_ms", "extra_data",
)  # fmt: skip
REQUEST_COLUMNS = (
    "event_id", "timestamp", "received_at", "service", "endpoint", "route", "method",
    "status_code", "response_time_ms", "user_id", "api_key_prefix", "user_agent",
    "request_size", "response_size", "error_message", "request_id",
)  # fmt: skip
TRACK = "/api/v1/analytics/batch-track"
DASHBOARD = "/api/v1/analytics/dashboard?days=30"
FLOOR = "/api/v1/analytics/platform/trends?periods=1"


def metadata(rng: random.Random, kind: str, agents: int) -> dict:
    agent = f"agent-{rng.randrange(agents)}"
    if kind == "agent_called":
        return {"agent_id": agent, "success": rng.random() < 0.95,
                "response_time_ms": round(rng.lognormvariate(5.5, 0.6), 1)}  # fmt: skip
    if kind == "bid_placed":
        return {"agent_id": agent, "amount": round(rng.uniform(5, 500), 2)}
    if kind == "contract_completed":
        amount = round(rng.uniform(10, 1000), 2)
        return {"agent_id": agent, "amount": amount, "platform_fee": round(amount * 0.15, 2)}
    if kind in ("credits_spent", "credits_purchased"):
        return {"amount": rng.choice((10, 20, 50, 100, 250))}
    if kind in ("validation_scored", "reputation_scored"):
        return {"agent_id": agent, "score": round(rng.uniform(1, 5), 2)}
    if kind in ("contract_won", "contract_failed"):
        return {"agent_id": agent}
    return {}


def load(args, day: datetime) -> None:
    rng = random.Random(args.seed)
    kinds, weights = list(KINDS), list(KINDS.values())
    now = datetime.now(UTC)
    started = time.perf_counter()

    def moment() -> datetime:
        return day + timedelta(seconds=rng.uniform(0, 86_399))

    with psycopg.connect(args.db_url, autocommit=True) as db, db.cursor() as cur:
        with cur.copy(f"COPY events_event ({', '.join(EVENT_COLUMNS)}) FROM STDIN") as copy:
            for i in range(args.events):
                kind = rng.choices(kinds, weights)[0]
                user = f"user-{rng.randrange(args.users)}" if i >= args.users else f"user-{i}"
                session = f"{user}-s{rng.randrange(5)}"
                copy.write_row(
                    [uuid.UUID(int=rng.getrandbits(128), version=4), moment(), now, kind, user,
                     "", session, orjson.dumps(metadata(rng, kind, args.agents)).decode(), now]
                )  # fmt: skip
        activity = f"COPY events_useractivity ({', '.join(ACTIVITY_COLUMNS)}) FROM STDIN"
        with cur.copy(activity) as copy:
            for _ in range(args.activity):
                user = f"user-{rng.randrange(args.users)}"
                copy.write_row(
                    [uuid.UUID(int=rng.getrandbits(128), version=4), moment(), now, user,
                     rng.choice(("page_view", "page_view", "click")), "/home", "", "",
                     f"{user}-s{rng.randrange(5)}", rng.randrange(100, 60_000), "{}"]
                )  # fmt: skip
        requests = f"COPY requestlog_apirequestlog ({', '.join(REQUEST_COLUMNS)}) FROM STDIN"
        with cur.copy(requests) as copy:
            for _ in range(args.requests):
                copy.write_row(
                    [uuid.UUID(int=rng.getrandbits(128), version=4), moment(), now, "api",
                     "/contracts", "", "GET", rng.choice((200, 200, 200, 201, 404, 500)),
                     round(rng.lognormvariate(4, 0.5), 1), "", "", "", 0, 0, "", ""]
                )  # fmt: skip
        cur.execute("VACUUM (ANALYZE)")
    print(
        f"load: {args.events:,} events, {args.activity:,} activity rows and "
        f"{args.requests:,} request logs in {time.perf_counter() - started:.0f} s",
        flush=True,
    )


def post(conn: http.client.HTTPConnection, key: str, body: dict) -> tuple[dict, float]:
    started = time.perf_counter()
    conn.request(
        "POST", TRACK, orjson.dumps(body),
        {"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
    )  # fmt: skip
    response = conn.getresponse()
    answer = response.read()
    seconds = time.perf_counter() - started
    if response.status != 200:
        raise BenchError(f"{TRACK} answered {response.status}: {answer[:300]!r}")
    return orjson.loads(answer), seconds


def check_figures(args, conn, read_key: str, day: datetime) -> list[str]:
    """user-0's and agent-0's figures of the day against the rows themselves."""
    headers = {"Authorization": f"Bearer {read_key}"}
    found = {}
    for path in ("/api/v1/analytics/user/user-0", "/api/v1/analytics/agent/agent-0"):
        conn.request("GET", path, headers=headers)
        response = conn.getresponse()
        found[path] = orjson.loads(response.read())
        if response.status != 200:
            return [f"{path} answered {response.status}"]
    window = [day, day + timedelta(days=1)]
    with psycopg.connect(args.db_url) as db:
        (created,) = db.execute(
            "SELECT count(*) FROM events_event WHERE user_id = 'user-0' "
            "AND event_type = 'contract_created' AND timestamp >= %s AND timestamp < %s",
            window,
        ).fetchone()
        calls, failed = db.execute(
            "SELECT count(*), count(*) FILTER (WHERE metadata->'success' = 'false') "
            "FROM events_event WHERE metadata->>'agent_id' = 'agent-0' "
            "AND event_type = 'agent_called' AND timestamp >= %s AND timestamp < %s",
            window,
        ).fetchone()
    user = found["/api/v1/analytics/user/user-0"]
    agent = found["/api/v1/analytics/agent/agent-0"]
    problems = []
    if user["contracts_created"] != created:
        problems.append(f"user-0: {user['contracts_created']} contracts, the rows {created}")
    if (agent["total_calls"], agent["failed_calls"]) != (calls, failed):
        problems.append(f"agent-0: {agent['total_calls']}/{agent['failed_calls']} calls/failed, "
                        f"the rows {calls}/{failed}")  # fmt: skip
    return problems


def bench(args, stack: Stack) -> list[str]:
    day = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=1)
    load(args, day)
    stack.start_gunicorn(workers=2)
    admin = stack.manage_ok("create_api_key", "bench-admin", "--scope", "admin").split()[-1]
    read = stack.manage_ok("create_api_key", "bench-read", "--scope", "read").split()[-1]
    conn = http.client.HTTPConnection("127.0.0.1", stack.web_port, timeout=120)
    body = {"period_type": "day", "period_start": day.isoformat()}
    first, seconds = post(conn, admin, body)
    entities = first["users_tracked"] + first["agents_tracked"] + 1
    print(f"batch-track: {first['users_tracked']:,} users, {first['agents_tracked']} agents "
          f"and the platform in {seconds * 1000:.0f} ms "
          f"({seconds * 1000 / entities:.2f} ms an entity)")  # fmt: skip
    again, again_seconds = post(conn, admin, body)
    forced, forced_seconds = post(conn, admin, {**body, "force": True})
    print(f"batch-track again: {again['skipped_existing']:,} skipped in "
          f"{again_seconds * 1000:.0f} ms; forced: {forced_seconds * 1000:.0f} ms")  # fmt: skip
    args.results.update(
        track=seconds, entities=entities, again=again_seconds, forced=forced_seconds
    )
    problems = []
    if (first["users_tracked"], first["agents_tracked"]) != (args.users, args.agents):
        problems.append(f"tracked {first['users_tracked']} users, {first['agents_tracked']} agents")
    if again["users_tracked"] or again["skipped_existing"] != entities:
        problems.append(f"tracked again: {again}")
    if seconds > 3:
        problems.append(f"batch-track took {seconds:.1f} s (goal: under 3 s)")
    problems += check_figures(args, conn, read, day)

    for back in range(1, 30):
        post(
            conn,
            admin,
            {"period_type": "day", "period_start": (day - timedelta(days=back)).isoformat()},
        )
    conn.close()
    stack.stop("gunicorn")
    return problems


def ask(conn: http.client.HTTPConnection, path: str, key: str) -> http.client.HTTPResponse:
    conn.request("GET", path, headers={"Authorization": f"Bearer {key}"})
    return conn.getresponse()


def start_before(args, stack: Stack, folder: str) -> int:
    """gunicorn serving the bench database from commit --before, unpacked into `folder`;
    returns its port once health answers."""
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", args.before], capture_output=True, check=False
    )
    if archive.returncode:
        raise BenchError(f"git archive {args.before}: {archive.stderr.decode()[:300]}")
    subprocess.run(["tar", "-x", "-C", folder], input=archive.stdout, check=True)
    port = free_port()
    command = [
        str(BIN / "gunicorn"), "analytics_project.wsgi:application", "--config",
        "python:analytics_project.gunicorn_conf", "--bind", f"127.0.0.1:{port}", "--workers", "2",
    ]  # fmt: skip
    # Its reads take seconds on a busy machine, past the read budget: time them, never stop them.
    env = {**stack.env, "PYTHONPATH": folder, "API_READ_STATEMENT_TIMEOUT_MS": "0"}
    stack.logs.mkdir(parents=True, exist_ok=True)
    with open(stack.logs / "before.log", "ab") as log:  # the child keeps its own copy
        stack.procs["before"] = subprocess.Popen(
            command, cwd=folder, env=env, stdout=log, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
    wait_until(lambda: health_ok(port), timeout=60, interval=0.2)
    return port


def dashboard(args, stack: Stack) -> list[str]:
    """/dashboard?days=30 --reads times (after 3 unmeasured), from this tree and with
    --before from that commit too, asked in turns."""
    started = time.perf_counter()
    made = stack.manage_ok("rollup_dashboard", timeout=600).strip()
    print(f"rollup: {made} in {time.perf_counter() - started:.1f} s", flush=True)
    read = stack.manage_ok("create_api_key", "bench-dashboard", "--scope", "read").split()[-1]
    stack.start_gunicorn(workers=2)  # as deployed: the read budget and throttle as they are
    # The floor: a one-row read through the same server in the same turns, what the
    # machine's load adds to any answer.
    targets = {"after": (stack.web_port, DASHBOARD), "floor": (stack.web_port, FLOOR)}
    with tempfile.TemporaryDirectory(prefix="bench-before-") as folder:
        if args.before:
            targets["before"] = (start_before(args, stack, folder), DASHBOARD)
        conns = {
            name: (http.client.HTTPConnection("127.0.0.1", port, timeout=120), path)
            for name, (port, path) in targets.items()
        }
        latencies: dict[str, list[float]] = {name: [] for name in targets}
        answers: dict[str, dict] = {}
        for i in range(args.reads + 3):
            for name, (conn, path) in conns.items():
                started = time.perf_counter()
                try:
                    response = ask(conn, path, read)
                except (http.client.RemoteDisconnected, ConnectionResetError):
                    # idle past gunicorn's keepalive (5 s) while a slow read ran: again
                    conn.close()
                    started = time.perf_counter()
                    response = ask(conn, path, read)
                answer = response.read()
                if response.status != 200:
                    raise BenchError(f"{path} ({name}) answered {response.status}: "
                                     f"{answer[:300]!r}")  # fmt: skip
                if i >= 3:
                    latencies[name].append((time.perf_counter() - started) * 1000)
                answers[name] = orjson.loads(answer)
        for conn, _path in conns.values():
            conn.close()
        stack.stop("before")
    stack.stop("gunicorn")
    for name, values in latencies.items():
        args.results[f"dashboard_{name}"] = (pct(values, 50), pct(values, 99))
        print(f"{targets[name][1]} {name}: p50 {pct(values, 50):.1f} ms, "
              f"p99 {pct(values, 99):.1f} ms")  # fmt: skip
    return compare(answers) if args.before else []


def compare(answers: dict[str, dict]) -> list[str]:
    """Users, agents, contracts and request counts and rates as before; money to the
    float's last bits; percentiles within 1% (the rollup's sketch)."""
    before, after = answers["before"], answers["after"]
    problems = []
    if before["current_metrics"]["users"] != after["current_metrics"]["users"]:
        problems.append(f"users: {after['current_metrics']['users']} after, "
                        f"{before['current_metrics']['users']} before")  # fmt: skip
    for part in ("agents", "contracts"):
        if before["current_metrics"][part] != after["current_metrics"][part]:
            problems.append(f"{part} differ: {after['current_metrics'][part]} after, "
                            f"{before['current_metrics'][part]} before")  # fmt: skip
    for key, was in before["current_metrics"]["financial"].items():
        now = after["current_metrics"]["financial"][key]
        if abs(now - was) > 1e-9 * max(abs(was), 1):
            problems.append(f"{key}: {now} after, {was} before")
    off = []
    for key, was in before["performance"].items():
        now = after["performance"][key]
        if key.startswith("p") and key.endswith("_ms") and was is not None:
            off.append(f"{key} {now} / {was} ({100 * (now - was) / was:+.2f}%)")
            if abs(now - was) > 0.01 * abs(was) + 0.005:  # 1%, and the answer's rounding
                problems.append(f"{key}: {now} after, {was} before (over 1%)")
        elif key != "slowest_endpoints" and now != was:
            problems.append(f"performance {key}: {now} after, {was} before")
    print("percentiles after / before: " + "; ".join(off))
    return problems


def print_summary(args) -> None:
    results = args.results
    print("\n| figure | value |\n|---|---|")
    if "track" in results:
        print(f"| `batch-track` of a day of {args.events:,} events: {args.users:,} users, "
              f"{args.agents} agents, the platform | {results['track'] * 1000:,.0f} ms "
              f"({results['track'] * 1000 / results['entities']:.2f} ms an entity) |")  # fmt: skip
        print(f"| the same day again (all skipped) / forced | {results['again'] * 1000:,.0f} ms"
              f" / {results['forced'] * 1000:,.0f} ms |")  # fmt: skip
    if "dashboard_after" in results:
        p50, p99 = results["dashboard_after"]
        figure = f"{p50:.1f} / {p99:.1f} ms"
        if "dashboard_before" in results:
            was50, was99 = results["dashboard_before"]
            figure += (f" (before, same minutes: {was50:.1f} / {was99:.1f} ms; "
                       f"{was50 / p50:.1f}x / {was99 / p99:.1f}x)")  # fmt: skip
        floor50, floor99 = results["dashboard_floor"]
        figure += f"; a one-row read, same turns: {floor50:.1f} / {floor99:.1f} ms"
        print(f"| `/dashboard?days=30` p50 / p99 | {figure} |")


def run(args) -> list[str]:
    if not args.skip_load:
        return on_fresh_stack(args, lambda stack: bench(args, stack) + dashboard(args, stack))
    stack = bench_stack(args)  # the data of the last run, as it is (rollup brought up to date)
    try:
        stack.manage_ok("migrate", "--noinput", timeout=300)
        problems = dashboard(args, stack)
    finally:
        stack.close()
    if not problems:
        stack.discard_logs()
    return problems


def parse_args(argv: list[str] | None = None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--users", type=int, default=1_000)
    parser.add_argument("--agents", type=int, default=100)
    parser.add_argument("--activity", type=int, default=200_000)
    parser.add_argument("--requests", type=int, default=100_000)
    parser.add_argument("--reads", type=int, default=20, help="timed asks of the dashboard")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument(
        "--skip-load", action="store_true", help="only the dashboard, on the last run's data"
    )
    parser.add_argument(
        "--before", metavar="REV", help="also serve the dashboard from this commit, in turns"
    )
    fresh_stores(parser, "analytics_bench_insights", 12)
    args = parser.parse_args(argv)
    if args.events < args.users or args.users < 1 or args.agents < 1:
        parser.error("need --events >= --users >= 1 and --agents >= 1")
    args.results = {}
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    return bench_main(
        lambda: run(args),
        ok="every user and agent was tracked once, and their figures agree with the rows.",
        summary=lambda: print_summary(args),
    )


if __name__ == "__main__":
    sys.exit(main())
