"""Helpers both benchmarks use: errors, percentiles, ports, databases, queues."""

import math
import socket
from urllib.parse import urlsplit, urlunsplit

QUEUES = ("ingest", "default", "alerts")


class BenchError(Exception):
    """A check failed: printed as FAIL, exit status 1."""


def pct(values: list[float], q: float) -> float:
    """Nearest-rank percentile of an unsorted list (q in 0..100)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = min(len(ordered), max(1, math.ceil(q / 100 * len(ordered))))
    return ordered[rank - 1]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def with_dbname(url: str, name: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


def purge_queues(redis_url: str) -> None:
    """Drop Celery messages a bench left in its own Redis db (never db 0, which is shared)."""
    import redis

    client = redis.Redis.from_url(redis_url, socket_connect_timeout=2, socket_timeout=5)
    if (client.connection_pool.connection_kwargs.get("db") or 0) == 0:
        return
    doomed = [
        key
        for key in client.scan_iter(count=1000)
        if key.split(b"\x06")[0].decode(errors="replace") in QUEUES
        or key.startswith((b"unacked", b"_kombu.binding."))
    ]
    if doomed:
        client.delete(*doomed)


def health_ok(port: int, path: str = "/api/v1/analytics/health") -> bool:
    """True when the server on 127.0.0.1:port answers its health check with 200."""
    import http.client

    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
        conn.request("GET", path)
        resp = conn.getresponse()
        resp.read()
        conn.close()
        return resp.status == 200
    except OSError:
        return False


def log_tail(log, title: str, lines: int) -> str:
    """The last lines of a process's log file, framed for an error message."""
    from pathlib import Path

    log.flush()
    text = Path(log.name).read_text(errors="replace").splitlines()
    return "\n".join([f"--- {title} log (tail) ---", *text[-lines:], f"--- {log.name}"])
