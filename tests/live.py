"""Real processes for pipeline and fault tests: a private Redis, Celery workers, gunicorn.

Each process gets the test database and the private Redis through the
environment, exactly as an operator would configure them.
"""

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import psycopg
from django.db import connection

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(predicate, *, timeout: float, interval: float = 0.1, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout}s waiting for {what}")


def port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


class Stack:
    """Processes started for one test; `close()` stops every one of them."""

    def __init__(self, tmp_path: Path, *, database_url: str | None = None):
        db = connection.settings_dict
        self.database_url = database_url or (
            f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"
        )
        self.redis_port = free_port()
        self.web_port = free_port()
        self.logs = tmp_path
        self.procs: dict[str, subprocess.Popen] = {}
        with connection.cursor() as cursor:  # the test's own connection survives cuts
            cursor.execute("SELECT pg_backend_pid()")
            self.own_pid = cursor.fetchone()[0]

    @property
    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
        env.update(
            DEBUG="true",
            DATABASE_URL=self.database_url,
            REDIS_URL=f"redis://127.0.0.1:{self.redis_port}/0",
            ANALYTICS_ENABLED="false",
            THROTTLE_RATE_INGEST="100000/min",
            DJANGO_SETTINGS_MODULE="analytics_project.settings",
            PYTHONPATH=str(ROOT),
        )
        return env

    def _spawn(self, name: str, args: list[str]) -> subprocess.Popen:
        log = open(self.logs / f"{name}.log", "ab")  # noqa: SIM115 - closed with the process
        proc = subprocess.Popen(
            args,
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.procs[name] = proc
        return proc

    def log(self, name: str) -> str:
        path = self.logs / f"{name}.log"
        return path.read_text(errors="replace")[-4000:] if path.exists() else ""

    # --- redis
    def start_redis(self) -> None:
        self._spawn(
            "redis",
            [
                "redis-server",
                "--port",
                str(self.redis_port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
        )
        wait_until(lambda: port_open(self.redis_port), timeout=10, what="redis")

    def stop_redis(self) -> None:
        self.stop("redis", sig=signal.SIGKILL)

    # --- celery
    def start_worker(self, name: str = "worker", concurrency: int = 2) -> None:
        self._spawn(
            name,
            [
                str(BIN / "celery"),
                "-A",
                "analytics_project",
                "worker",
                "-Q",
                "ingest,default",
                "--concurrency",
                str(concurrency),
                "--loglevel",
                "INFO",
                "-n",
                f"{name}@%h",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
            ],
        )
        wait_until(lambda: "ready" in self.log(name), timeout=30, what=f"{name} ready")

    def kill(self, name: str) -> None:
        """kill -9 the whole process group: the worker and its pool children."""
        self.stop(name, sig=signal.SIGKILL)

    # --- web
    def start_web(self, workers: int = 2) -> str:
        """Start the Procfile's web command as it stands, on this stack's port with `workers`.

        Read from the Procfile so the tests serve exactly what `make run` serves:
        worker class, threads and timeouts come with it (and its gunicorn_conf).
        """
        import re
        import shlex

        line = next(
            entry.partition(":")[2]
            for entry in (ROOT / "Procfile").read_text().splitlines()
            if entry.startswith("web:")
        )
        values = {"PORT": str(self.web_port), "WEB_CONCURRENCY": str(workers)}
        # ${NAME:-default} as honcho's shell expands it, with this stack's values.
        expanded = re.sub(
            r"\$\{(\w+):-([^}]*)\}", lambda m: values.get(m[1]) or self.env.get(m[1]) or m[2], line
        )
        args = shlex.split(expanded)
        args[0] = str(BIN / Path(args[0]).name)  # .venv/bin/gunicorn: this interpreter's venv
        self._spawn("web", args)
        wait_until(lambda: port_open(self.web_port), timeout=30, what="gunicorn")
        return f"http://127.0.0.1:{self.web_port}"

    def manage(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def stop(self, name: str, sig: int = signal.SIGTERM) -> None:
        proc = self.procs.pop(name, None)
        if proc is None or proc.poll() is not None:
            return
        try:
            os.killpg(proc.pid, sig)
            proc.wait(timeout=15)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait(timeout=5)

    def close(self) -> None:
        for name in list(self.procs):
            self.stop(name, sig=signal.SIGKILL if name == "redis" else signal.SIGTERM)
        # Connections the children held must be gone before the test database is flushed.
        self.cut_database_connections()

    def cut_database_connections(self) -> int:
        """Cut every other connection to the test database, as a database restart would."""
        return terminate_backends(keep_pid=self.own_pid)


def terminate_backends(*, keep_pid: int) -> int:
    with psycopg.connect(
        host="127.0.0.1", port=5432, user="postgres", dbname="postgres", autocommit=True
    ) as conn:
        rows = conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = %s AND pid <> %s",
            [connection.settings_dict["NAME"], keep_pid],
        ).fetchall()
    return len(rows)
