"""The multi-host layout of deploy/README.md, each host a network namespace (hosts.py),
under a steady ingest load through nginx while hosts are lost and brought back.

    db1      PostgreSQL primary          db2      its streaming replica (the reads)
    redis    Redis                       lb       nginx, deploy/nginx/analytics.conf
    web1/2   gunicorn (the Procfile's web, BIND_ADDRESS = the host's address)
    worker1  Celery, WORKER_QUEUES=ingest
    worker2  Celery, WORKER_QUEUES=ingest,default,alerts
    beat     analytics-setup's commands (deploy/systemd), then the one beat

Every host gets deploy/production.env.example's settings plus the addresses of the
database, its replica and Redis, as an operator fills them in. The clients run on this
machine (the bridge's address): senders POST job outcomes and metric points with
event_ids at a steady rate, each batch sent again until it is answered 202, as a client
of the API should; probes ask for health (plain HTTP, as a load balancer does), the
console (signed in) and a read endpoint. Every answer is recorded with its time, so
the figures come from what clients saw.
"""

import http.client
import re
import shutil
import signal
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlencode

import orjson
import psycopg

from .clients import http_get
from .deploy import nginx_config, production_env
from .hosts import Host, Network
from .postgres import Cluster
from .processes import ROOT, Stack, StackError, procfile_args, service_env, wait_until

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
HEALTH = "/api/v1/analytics/health"
KINDS = {  # what is sent, and where the run's own items are (the service adds its own)
    "job": ("/api/v1/analytics/job-outcome", "jobs_joboutcome WHERE job_type = 'multi-host'"),
    "metric": (
        "/api/v1/analytics/metrics/record",
        "metrics_metricevent WHERE metric_name = 'multihost.latency'",
    ),
}
# deploy/README.md's PostgreSQL settings for several hosts: a lost host never closes its
# connections, and without keepalives the server keeps them for the kernel's 2 hours.
POSTGRES_SETTINGS = (
    "tcp_keepalives_idle=30",
    "tcp_keepalives_interval=10",
    "tcp_keepalives_count=3",
)
READ_PATH = "/api/v1/metrics/job-outcomes"
CONSOLE_PATH = "/admin/console/"
STAFF = ("ops", "multi-host-run-password")
TLS = ssl.create_default_context()
TLS.check_hostname = False
TLS.verify_mode = ssl.CERT_NONE  # the run's own self-signed certificate


@dataclass
class Answer:
    at: float  # monotonic seconds, when the answer (or the failure) came
    status: int  # 0: no answer (connection refused, reset or timed out)
    seconds: float
    items: int = 0


@dataclass
class Timeline:
    """What clients saw, per stream: ingest, health, console, read."""

    answers: dict[str, list[Answer]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, stream: str, answer: Answer) -> None:
        with self.lock:
            self.answers.setdefault(stream, []).append(answer)

    def of(self, stream: str, start: float = 0.0, end: float = float("inf")) -> list[Answer]:
        with self.lock:
            return [a for a in self.answers.get(stream, []) if start <= a.at < end]

    def max_gap(self, stream: str, start: float, end: float, ok=(200, 202)) -> float:
        """The longest time in [start, end) without a successful answer on `stream`."""
        times = [start, *(a.at for a in self.of(stream, start, end) if a.status in ok), end]
        return max(b - a for a, b in zip(times, times[1:], strict=False))


class Deployment:
    """The hosts and their processes; `close()` stops everything and removes the hosts."""

    def __init__(
        self,
        *,
        web_concurrency: int = 2,
        worker_concurrency: int = 2,
        overrides: dict[str, str] | None = None,
    ):
        self.base = Path(tempfile.mkdtemp(prefix="multihost-"))
        self.base.chmod(0o777)  # the postgres user writes its clusters and sockets here
        self.stack = Stack(self.base / "logs", database_url="", redis_url="")
        self.network = Network()
        self.concurrency = {"web": web_concurrency, "worker": worker_concurrency}
        self.hosts: dict[str, Host] = {}
        self.clusters: dict[str, Cluster] = {}
        self.secret = production_env()["SECRET_KEY"]
        self.keys: dict[str, str] = {}
        self.overrides = overrides or {}  # settings every host gets on top

    # --- addresses
    def address(self, host: str) -> str:
        return self.hosts[host].address

    @property
    def https(self) -> tuple[str, int]:
        return self.address("lb"), 443

    def env(self, host: str) -> dict[str, str]:
        """What an operator puts in this host's production.env (deploy/README.md)."""
        database = self.clusters["db1"].url("analytics")
        redis = f"redis://{self.address('redis')}:6379/0"
        env = service_env(database, redis, throttle_ingest="1000000/min")
        own = {"DATABASE_URL", "REDIS_URL"}
        env.update({k: v for k, v in production_env().items() if k not in own})
        env.update(
            SECRET_KEY=self.secret,
            ALLOWED_HOSTS=f"analytics.example.com,{self.address('lb')}",
            DATABASE_REPLICA_URL=self.clusters["db2"].url("analytics"),
            WEB_CONCURRENCY=str(self.concurrency["web"]),
            WORKER_CONCURRENCY=str(self.concurrency["worker"]),
            BIND_ADDRESS=self.address(host) if host in self.hosts else "127.0.0.1",
            PORT="8000",
        )
        if host == "worker1":
            env["WORKER_QUEUES"] = "ingest"
        env.update(self.overrides)
        return env

    # --- bringing it up
    def start(self) -> None:
        for name in ("db1", "db2", "redis", "lb", "web1", "web2", "worker1", "worker2", "beat"):
            self.hosts[name] = self.network.add(name)
        primary = self.clusters["db1"] = Cluster(self.base, "db1", self.hosts["db1"])
        replica = self.clusters["db2"] = Cluster(self.base, "db2", self.hosts["db2"])
        primary.init()
        primary.start(*POSTGRES_SETTINGS)
        primary.sql("CREATE DATABASE analytics", db="postgres")
        replica.replicate(primary)
        replica.start(*POSTGRES_SETTINGS)
        redis = self.hosts["redis"]
        self.stack.spawn(
            "redis",
            redis.argv(["redis-server", "--bind", redis.address, "--port", "6379"])
            + ["--save", "", "--appendonly", "no", "--protected-mode", "no"],
        )
        self.setup()
        self.start_process("beat")
        for host in ("web1", "web2", "worker1", "worker2"):
            self.start_process(host)
        self.start_nginx()

    def manage(self, *args: str, host: str = "beat", env: dict[str, str] | None = None) -> str:
        """manage.py on a host, with its settings (and `env`); its output."""
        done = subprocess.run(
            self.hosts[host].argv([sys.executable, "manage.py", *args]),
            cwd=ROOT,
            env={**self.env(host), **(env or {})},
            capture_output=True,
            text=True,
            timeout=120,
        )
        if done.returncode != 0:
            raise StackError(f"manage.py {' '.join(args)} on {host}: {done.stdout}{done.stderr}")
        return done.stdout

    def setup(self) -> None:
        """deploy/systemd/analytics-setup.service's commands, on the beat host, as listed."""
        unit = (ROOT / "deploy" / "systemd" / "analytics-setup.service").read_text()
        commands = re.findall(r"^ExecStart=\S+/python manage\.py (.+)$", unit, re.M)
        if not commands:
            raise StackError("analytics-setup.service runs no manage.py command")
        for command in commands:
            self.manage(*command.split())
        for scope in ("ingest", "read"):
            out = self.manage("create_api_key", f"multi-host {scope}", "--scope", scope)
            self.keys[scope] = out.strip().splitlines()[-1]
        superuser = {"DJANGO_SUPERUSER_USERNAME": STAFF[0], "DJANGO_SUPERUSER_PASSWORD": STAFF[1]}
        self.manage("createsuperuser", "--noinput", "--email", "ops@example.com", env=superuser)

    def start_process(self, host: str) -> None:
        """The host's process as its unit starts it: the Procfile's command with the
        host's settings; waits until it serves (web), is ready (worker) or started (beat)."""
        role = re.sub(r"\d+$", "", host)
        env = self.env(host)
        self.stack.spawn(host, self.hosts[host].argv(procfile_args(role, env)), env)
        if role == "web":
            self.stack.wait(
                host,
                # As a load balancer asks it: by the host's address.
                lambda: http_get(self.address(host), 8000, HEALTH)[0] == 200,
                timeout=60,
                what="health",
                interval=0.2,
            )
        elif role == "worker":
            self.stack.wait(
                host, lambda: self.stack.logged(host, "ready"), timeout=60, what="ready"
            )
        else:
            self.stack.wait(
                host, lambda: self.stack.logged(host, "beat: Starting"), timeout=60, what="beat"
            )

    def start_nginx(self) -> None:
        lb = self.address("lb")
        conf = nginx_config(
            self.base / "nginx",
            f"{lb}:80",
            f"{lb}:443",
            [f"{self.address(web)}:8000" for web in ("web1", "web2")],
            f"{self.address('web1')}:8001",
        )
        self.stack.spawn(
            "lb", self.hosts["lb"].argv([NGINX, "-p", str(conf.parent), "-c", str(conf)])
        )
        self.stack.wait("lb", lambda: http_get(lb, 80, HEALTH)[0] == 200, timeout=30, what="nginx")

    # --- losing hosts
    def lose(self, *hosts: str) -> None:
        for host in hosts:
            self.hosts[host].lose()
            self.stack.procs.pop(host, None)

    def bring_back(self, *hosts: str) -> None:
        for host in hosts:
            self.hosts[host].back()
            self.start_process(host)

    def close(self) -> None:
        for name in list(self.stack.procs):
            self.stack.stop(name, sig=signal.SIGKILL)
        for cluster in self.clusters.values():
            cluster.stop()
        self.network.close()
        shutil.rmtree(self.base, ignore_errors=True)

    # --- what was stored
    def stored(self) -> dict[str, int]:
        sql = ", ".join(f"(SELECT count(*) FROM {table})" for _, table in KINDS.values())
        row = self.clusters["db1"].sql(f"SELECT {sql}", db="analytics")[0]
        return dict(zip(KINDS, row, strict=True))

    def orphaned_connections(self, hosts: tuple[str, ...], before: datetime) -> dict[str, int]:
        """The primary's connections from the lost hosts' processes (opened before `before`,
        when they were brought back), by state: a lost host never closed them."""
        addresses = [self.address(host) for host in hosts]
        rows = self.clusters["db1"].sql(
            "SELECT coalesce(state, '?'), count(*) FROM pg_stat_activity "
            "WHERE host(client_addr) = ANY(%s) AND backend_start < %s GROUP BY 1",
            [addresses, before],
            db="analytics",
        )
        return dict(rows)

    def stored_ids(self, kind: str) -> Counter:
        rows = self.clusters["db1"].sql(f"SELECT event_id FROM {KINDS[kind][1]}", db="analytics")
        return Counter(str(row[0]) for row in rows)


def sign_in(deployment: Deployment) -> dict[str, str]:
    """The staff console's session, signed in through /admin/login/ as a browser does."""
    address, port = deployment.https
    origin = f"https://{address}"
    connection = http.client.HTTPSConnection(address, port, timeout=30, context=TLS)
    connection.request("GET", "/admin/login/")
    response = connection.getresponse()
    page = response.read().decode()
    cookies = _cookies(response)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)[1]
    body = urlencode(
        {"username": STAFF[0], "password": STAFF[1], "csrfmiddlewaretoken": token, "next": "/"}
    )
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "Cookie": "; ".join(f"{k}={v}" for k, v in cookies.items()),
        "Origin": origin,
        "Referer": f"{origin}/admin/login/",
    }
    connection.request("POST", "/admin/login/", body, headers)
    response = connection.getresponse()
    response.read()
    cookies.update(_cookies(response))
    connection.close()
    if response.status != 302 or "sessionid" not in cookies:
        raise StackError(f"sign-in refused: {response.status}")
    return {"Cookie": "; ".join(f"{k}={v}" for k, v in cookies.items())}


def _cookies(response: http.client.HTTPResponse) -> dict[str, str]:
    found = {}
    for name, value in response.getheaders():
        if name.lower() == "set-cookie":
            pair = value.split(";", 1)[0]
            key, _, cookie = pair.partition("=")
            found[key.strip()] = cookie.strip()
    return found


class Load:
    """Senders at a steady rate and probes, all recording into one Timeline."""

    def __init__(self, deployment: Deployment, *, rate: int, batch: int, senders: int):
        self.deployment = deployment
        self.rate, self.batch, self.senders = rate, batch, senders
        self.timeline = Timeline()
        self.accepted: dict[str, set[str]] = {kind: set() for kind in KINDS}
        self.retries = 0
        self.refused: list[str] = []
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.console = sign_in(deployment)

    def start(self) -> None:
        for n in range(self.senders):
            self._threads.append(threading.Thread(target=self._send, args=(n,), daemon=True))
        for stream in ("health", "console", "read"):
            self._threads.append(threading.Thread(target=self._probe, args=(stream,), daemon=True))
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=60)

    def _items(self, kind: str, n: int) -> list[dict]:
        now = datetime.now(UTC).isoformat()
        if kind == "job":
            return [
                {
                    "event_id": str(uuid.uuid4()),
                    "job_type": "multi-host",
                    "status": "success",
                    "duration_ms": 100 + i,
                    "timestamp": now,
                }
                for i in range(n)
            ]
        return [
            {
                "event_id": str(uuid.uuid4()),
                "metric_name": "multihost.latency",
                "metric_type": "gauge",
                "value": float(i),
                "tags": {"sender": str(i % 10)},
                "timestamp": now,
            }
            for i in range(n)
        ]

    def _send(self, number: int) -> None:
        address, port = self.deployment.https
        headers = {"Content-Type": "application/json", "X-API-Key": self.deployment.keys["ingest"]}
        interval = self.senders * self.batch / self.rate
        due = time.monotonic() + number * interval / self.senders
        kinds = list(KINDS)
        sent = 0
        connection = None
        while not self._stop.is_set():
            time.sleep(max(0.0, due - time.monotonic()))
            due += interval  # a stalled client sends what it held back, as SDKs buffer
            kind = kinds[(number + sent) % len(kinds)]
            sent += 1
            items = self._items(kind, self.batch)
            body = orjson.dumps({"batch": items})
            while True:  # the same batch until it is accepted, as a client should
                started = time.monotonic()
                try:
                    if connection is None:
                        connection = http.client.HTTPSConnection(
                            address, port, timeout=30, context=TLS
                        )
                    connection.request("POST", KINDS[kind][0], body, headers)
                    response = connection.getresponse()
                    answer = response.read()
                    status = response.status
                    if response.will_close:
                        connection.close()
                        connection = None
                except OSError:
                    status, answer = 0, b""
                    if connection is not None:
                        connection.close()
                    connection = None
                accepted = self.batch if status == 202 else 0
                self.timeline.add(
                    "ingest", Answer(time.monotonic(), status, time.monotonic() - started, accepted)
                )
                if status == 202:
                    with self.timeline.lock:
                        self.accepted[kind].update(item["event_id"] for item in items)
                    break
                if status not in (0, 429, 502, 503, 504):
                    self.refused.append(f"{status}: {answer[:300]!r}")
                    return
                self.retries += 1
                time.sleep(0.2)

    def _probe(self, stream: str) -> None:
        address, port = self.deployment.https
        key = {"X-API-Key": self.deployment.keys["read"]}
        targets = {  # (port, path, tls, headers)
            "health": (80, HEALTH, False, {}),
            "console": (port, CONSOLE_PATH, True, self.console),
            "read": (port, READ_PATH, True, key),
        }
        probe_port, path, tls, headers = targets[stream]
        while not self._stop.is_set():
            started = time.monotonic()
            status, _ = http_get(
                address, probe_port, path, tls=TLS if tls else None, headers=headers, timeout=10
            )
            self.timeline.add(stream, Answer(time.monotonic(), status, time.monotonic() - started))
            self._stop.wait(0.25)


@dataclass
class Phase:
    name: str
    start: float
    end: float


def run(
    *,
    rate: int = 2000,
    batch: int = 50,
    senders: int = 8,
    phase_seconds: float = 20.0,
    drain_timeout: float = 240.0,
    lost: tuple[str, ...] = ("web1", "worker1"),
    report=print,
    deployment: Deployment | None = None,
    after_load: Callable[[], None] | None = None,
) -> dict:
    """Bring the deployment up, load it, lose `lost` for a phase, bring them back; the
    figures, with what was accepted and what was stored."""
    deployment = deployment or Deployment()
    try:
        began = time.monotonic()
        deployment.start()
        report(f"deployment up in {time.monotonic() - began:.1f} s: {_layout(deployment)}")
        load = Load(deployment, rate=rate, batch=batch, senders=senders)
        samples: list[tuple[float, dict[str, int]]] = []
        stop_sampling = threading.Event()

        def sample() -> None:
            while not stop_sampling.is_set():
                try:
                    samples.append((time.monotonic(), deployment.stored()))
                except psycopg.Error:
                    pass
                stop_sampling.wait(1.0)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        t0 = time.monotonic()
        load.start()
        time.sleep(phase_seconds)
        t1 = time.monotonic()
        deployment.lose(*lost)
        report(f"lost {', '.join(lost)} (link down, every process killed) at {t1 - t0:.1f} s")
        time.sleep(phase_seconds)
        t2 = time.monotonic()
        back_at = deployment.clusters["db1"].sql("SELECT now()", db="analytics")[0][0]
        deployment.bring_back(*lost)
        t2b = time.monotonic()
        report(f"brought {', '.join(lost)} back at {t2 - t0:.1f} s, serving {t2b - t2:.1f} s later")
        time.sleep(phase_seconds)
        load.stop()
        t3 = time.monotonic()
        expected = {kind: len(ids) for kind, ids in load.accepted.items()}
        try:
            wait_until(
                lambda: all(deployment.stored()[k] >= n for k, n in expected.items()),
                timeout=drain_timeout,
                what="every accepted item stored",
                interval=0.5,
            )
        except TimeoutError:
            report("not every accepted item was stored within the drain timeout")
        drained = time.monotonic() - t3
        if after_load is not None:
            after_load()
        time.sleep(2)  # anything late, a duplicate say, would show now
        stop_sampling.set()
        sampler.join(timeout=10)
        phases = [
            Phase("before", t0, t1),
            Phase("hosts lost", t1, t2),
            Phase("after", t2, t3),
        ]
        figures = _figures(load, samples, phases, deployment)
        figures["drain_seconds"] = round(drained, 1)
        figures["orphaned_connections"] = deployment.orphaned_connections(lost, back_at)
        figures["restart_seconds"] = round(t2b - t2, 1)
        figures["refused"] = load.refused
        figures["logs"] = str(deployment.stack.logs)
        return figures
    finally:
        deployment.close()


def _layout(deployment: Deployment) -> str:
    return ", ".join(f"{name} {host.address}" for name, host in deployment.hosts.items())


def _stored_rate(samples, start: float, end: float) -> float:
    inside = [(t, sum(counts.values())) for t, counts in samples if start <= t <= end]
    if len(inside) < 2:
        return 0.0
    (ta, a), (tb, b) = inside[0], inside[-1]
    return (b - a) / (tb - ta) if tb > ta else 0.0


def _figures(load: Load, samples, phases: list[Phase], deployment: Deployment) -> dict:
    timeline = load.timeline
    rows = []
    for phase in phases:
        ingest = timeline.of("ingest", phase.start, phase.end)
        seconds = phase.end - phase.start
        latencies = sorted(a.seconds * 1000 for a in ingest if a.status == 202)
        failures = Counter(a.status for a in ingest if a.status != 202)
        rows.append(
            {
                "phase": phase.name,
                "seconds": round(seconds, 1),
                "accepted_per_s": round(sum(a.items for a in ingest) / seconds),
                "stored_per_s": round(_stored_rate(samples, phase.start, phase.end)),
                "ingest_p50_ms": round(statistics.median(latencies), 1) if latencies else None,
                "ingest_max_ms": round(latencies[-1], 1) if latencies else None,
                "failed_answers": dict(sorted(failures.items())),
                "max_gap_s": {
                    stream: round(timeline.max_gap(stream, phase.start, phase.end), 2)
                    for stream in ("ingest", "health", "console", "read")
                },
                "answered": {
                    stream: sum(
                        1 for a in timeline.of(stream, phase.start, phase.end) if a.status == 200
                    )
                    for stream in ("health", "console", "read")
                },
                "probe_failures": {
                    stream: sum(
                        1 for a in timeline.of(stream, phase.start, phase.end) if a.status != 200
                    )
                    for stream in ("health", "console", "read")
                },
            }
        )
    exactly_once = {}
    for kind, accepted in load.accepted.items():
        stored = deployment.stored_ids(kind)
        exactly_once[kind] = {
            "accepted": len(accepted),
            "stored": sum(stored.values()),
            "missing": len(accepted - set(stored)),
            "duplicates": sum(n - 1 for n in stored.values() if n > 1),
            "unexpected": len(set(stored) - accepted),
        }
    return {"phases": rows, "exactly_once": exactly_once, "retries": load.retries}
