"""The ingest bench's part 2: AnalyticsMiddleware's cost, in-process, without a server.

One request built with RequestFactory, timed through AnalyticsMiddleware with logging
on and off against the bare get_response; every logged request must reach the outbox.
"""

import time

from common import BenchError, pct, setup_django

MIDDLEWARE_PATH = "/api/v1/metrics/api-performance"


def bench_middleware(args) -> dict:
    setup_django(args, analytics=True)
    from django.db import connection
    from django.http import HttpResponse
    from django.test import RequestFactory

    from apps.requestlog.middleware import AnalyticsMiddleware, buffer

    request = RequestFactory().get(
        MIDDLEWARE_PATH,
        {"window": "1h"},
        HTTP_USER_AGENT="bench/1.0 (python http.client)",
        REMOTE_ADDR="203.0.113.7",
    )

    def get_response(_request):
        return HttpResponse(b'{"ok":true}', content_type="application/json")

    def outbox_request_logs() -> tuple[int, int]:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT coalesce(sum(item_count), 0), count(*) FROM ingest_outboxbatch "
                "WHERE kind = 'request_log'"
            )
            return cursor.fetchone()

    already, already_rows = outbox_request_logs()
    connection.close()  # the flusher thread has its own connection
    logged = AnalyticsMiddleware(get_response, enable_logging=True)
    unlogged = AnalyticsMiddleware(get_response, enable_logging=False)
    clock = time.perf_counter_ns
    for _ in range(1000):  # warm-up; also starts the flusher thread
        get_response(request)
        logged(request)
        unlogged(request)
    bare_ns, logged_ns, unlogged_ns = [], [], []
    t_start = time.perf_counter()
    for _ in range(args.mw_iterations):
        t0 = clock()
        get_response(request)
        t1 = clock()
        logged(request)
        t2 = clock()
        unlogged(request)
        t3 = clock()
        bare_ns.append(t1 - t0)
        logged_ns.append(t2 - t1)
        unlogged_ns.append(t3 - t2)
    wall = time.perf_counter() - t_start
    # Every logged request must reach the outbox: flush the rest here, and give the
    # flusher thread time to commit a batch it may have taken just before.
    expected = 1000 + args.mw_iterations
    deadline = time.monotonic() + 30
    while True:
        buffer.flush()
        flushed, flushes = outbox_request_logs()
        flushed, flushes = flushed - already, flushes - already_rows
        if flushed + buffer.dropped >= expected or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    connection.close()
    if flushed + buffer.dropped != expected:
        raise BenchError(
            f"{flushed} request logs reached the outbox, {buffer.dropped} dropped, of {expected}"
        )

    def ms(values: list[int], q: float) -> float:
        return pct(values, q) / 1e6

    return {
        "iterations": args.mw_iterations,
        "bare": (ms(bare_ns, 50), ms(bare_ns, 99)),
        "logged": (ms(logged_ns, 50), ms(logged_ns, 99)),
        "unlogged": (ms(unlogged_ns, 50), ms(unlogged_ns, 99)),
        "overhead": (
            ms(logged_ns, 50) - ms(bare_ns, 50),
            ms(logged_ns, 99) - ms(bare_ns, 99),
        ),
        "overhead_off": (
            ms(unlogged_ns, 50) - ms(bare_ns, 50),
            ms(unlogged_ns, 99) - ms(bare_ns, 99),
        ),
        "mean_overhead": (sum(logged_ns) - sum(bare_ns)) / len(bare_ns) / 1e6,
        "flushed": flushed,
        "flushes": flushes,
        "dropped": buffer.dropped,
        "wall": wall,
    }


def print_middleware(result: dict) -> None:
    bare, logged, unlogged = result["bare"], result["logged"], result["unlogged"]
    print(f"middleware: {result['iterations']} requests each, in-process ({result['wall']:.1f} s)")
    print(f"    bare get_response           p50 {bare[0]:.4f} ms  p99 {bare[1]:.4f} ms")
    print(f"    AnalyticsMiddleware, off    p50 {unlogged[0]:.4f} ms  p99 {unlogged[1]:.4f} ms")
    print(f"    AnalyticsMiddleware, on     p50 {logged[0]:.4f} ms  p99 {logged[1]:.4f} ms")
    print(
        f"middleware: overhead (on - bare): p50 {result['overhead'][0]:.4f} ms, "
        f"p99 {result['overhead'][1]:.4f} ms, mean {result['mean_overhead']:.4f} ms; "
        f"(off - bare): p50 {result['overhead_off'][0]:.4f} ms"
    )
    print(
        f"middleware: flusher wrote {result['flushed']} request logs in "
        f"{result['flushes']} outbox rows, {result['dropped']} dropped"
    )
