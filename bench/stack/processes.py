"""Named processes of one stack: start, wait for, stop, kill, read their logs."""

import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TypeVar

import psutil

from .clients import health_ok

ROOT = Path(__file__).resolve().parent.parent.parent
if str(ROOT) not in sys.path:  # a bench runs as a script, with only bench/ on the path
    sys.path.insert(0, str(ROOT))
from apps.core.queues import Queue  # noqa: E402 - a plain enum; nothing of Django loads

# This interpreter's scripts (.venv/bin under `make`): manage.py, gunicorn, celery and
# honcho then come from the environment that runs the bench or the tests.
BIN = Path(sys.executable).parent
T = TypeVar("T")


class StackError(RuntimeError):
    """A process did not come up, or a step of the stack failed; the message says which."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def wait_until(
    predicate: Callable[[], T], *, timeout: float, interval: float = 0.1, what: str = "condition"
) -> T:
    """The first true value of predicate(); TimeoutError after `timeout` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout}s waiting for {what}")


def service_env(
    database_url: str, redis_url: str, *, throttle_ingest: str, analytics: bool = False
) -> dict[str, str]:
    """This environment plus the settings a started process needs, as an operator sets them."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
    env.pop("CELERY_BROKER_URL", None)  # follow REDIS_URL: the stack's queues are its own
    env.update(
        DEBUG="true",
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        ANALYTICS_ENABLED="true" if analytics else "false",
        THROTTLE_RATE_INGEST=throttle_ingest,
        DJANGO_SETTINGS_MODULE="analytics_project.settings",
        PYTHONPATH=str(ROOT),
        PYTHONUNBUFFERED="1",
    )
    return env


def procfile_line(name: str) -> str | None:
    """The command of the Procfile's `name:` entry, as written."""
    for entry in (ROOT / "Procfile").read_text().splitlines():
        if entry.startswith(f"{name}:"):
            return entry.partition(":")[2].strip()
    return None


def procfile_args(name: str, values: Mapping[str, str]) -> list[str]:
    """The Procfile's `name:` command as argv, ${NAME:-default} expanded from `values` as
    honcho's shell would, its program taken from this interpreter's scripts."""
    line = procfile_line(name)
    if line is None:
        raise StackError(f"the Procfile has no {name}: entry")
    expanded = re.sub(r"\$\{(\w+):-([^}]*)\}", lambda m: values.get(m[1]) or m[2], line)
    args = shlex.split(expanded)
    args[0] = str(BIN / Path(args[0]).name)  # .venv/bin/gunicorn: this interpreter's venv
    return args


def _pgid(pid: int) -> int | None:
    try:
        return os.getpgid(pid)
    except ProcessLookupError:
        return None


def _signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):  # gone, or the number is someone else's now
        pass


class Stack:
    """Processes started for one test or bench run; `close()` stops every one of them.

    Each process leads its own process group (so stop() reaches a gunicorn master's
    workers and a celery worker's pool) and writes its output to <logs>/<name>.log;
    without `logs`, to a temporary folder made at the first start. Without `redis_url`
    the stack's processes use the redis-server start_redis() runs.
    """

    def __init__(
        self,
        logs: Path | None = None,
        *,
        database_url: str,
        redis_url: str | None = None,
        throttle_ingest: str = "100000/min",
    ):
        self._logs = logs
        self._own_logs = logs is None
        self.database_url = database_url
        self.redis_port = free_port()
        self.redis_url = redis_url or f"redis://127.0.0.1:{self.redis_port}/0"
        self.web_port = free_port()
        self.throttle_ingest = throttle_ingest
        # Settings of this stack's processes alone (two stacks side by side differ here).
        self.overrides: dict[str, str] = {}
        self.procs: dict[str, subprocess.Popen] = {}
        self._log_starts: dict[str, int] = {}  # where each process's latest start began
        self._known: dict[str, dict[int, psutil.Process]] = {}

    @property
    def logs(self) -> Path:
        if self._logs is None:
            self._logs = Path(tempfile.mkdtemp(prefix="stack-"))
        return self._logs

    @property
    def env(self) -> dict[str, str]:
        """Read at each start, so what a test sets in os.environ reaches the next process."""
        env = service_env(self.database_url, self.redis_url, throttle_ingest=self.throttle_ingest)
        env.update(self.overrides)
        return env

    @property
    def namespace(self) -> str:
        """What the stack's processes start every Redis name with (apps/core/redis.py)."""
        from apps.core.redis import redis_namespace

        env = self.env
        return redis_namespace(env["REDIS_URL"], env.get("REDIS_KEY_PREFIX", ""))

    def redis_key(self, *parts: str) -> str:
        """A Redis key or channel of the stack's processes, as their redis_key() names it."""
        return ":".join((self.namespace, *parts))

    def broker(self):
        """A kombu connection to the stack's own Celery queues (its namespace's), for
        publishing to its workers as its web process would."""
        from kombu import Connection

        from apps.core.redis import celery_keyprefix

        options = {"global_keyprefix": celery_keyprefix(self.namespace)}
        return Connection(self.env["REDIS_URL"], transport_options=options)

    def spawn(self, name: str, args: list[str], env: dict[str, str] | None = None):
        """Start `args` from the repository root in a new session, output to its log."""
        self.logs.mkdir(parents=True, exist_ok=True)
        path = self.logs / f"{name}.log"
        self._log_starts[name] = path.stat().st_size if path.exists() else 0
        with open(path, "ab") as log:  # the child keeps its own copy
            proc = subprocess.Popen(
                args,
                cwd=ROOT,
                env=self.env if env is None else env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        self.procs[name] = proc
        return proc

    def log(self, name: str, chars: int = 4000) -> str:
        path = self.logs / f"{name}.log"
        return path.read_text(errors="replace")[-chars:] if path.exists() else ""

    def logged(self, name: str, marker: str) -> bool:
        """Whether the process wrote `marker` since it was last started: a busy worker's
        later lines can push its "ready" out of any tail before a poll sees it."""
        path = self.logs / f"{name}.log"
        if not path.exists():
            return False
        with open(path, "rb") as log:
            log.seek(self._log_starts.get(name, 0))
            return marker.encode() in log.read()

    def tail(self, name: str, lines: int = 40) -> str:
        """The last lines of a process's log, framed for an error message."""
        path = self.logs / f"{name}.log"
        text = path.read_text(errors="replace").splitlines() if path.exists() else []
        return "\n".join([f"--- {name} log (tail) ---", *text[-lines:], f"--- {path}"])

    def discard_logs(self) -> None:
        """Remove the temporary folder of logs, once they can no longer explain a failure."""
        if self._own_logs and self._logs is not None:
            shutil.rmtree(self._logs, ignore_errors=True)
            self._logs = None

    def wait(
        self,
        name: str,
        predicate: Callable[[], T],
        *,
        timeout: float,
        what: str,
        interval: float = 0.1,
    ) -> T:
        """The first true value of predicate(); StackError, with the log's tail, when the
        process exits first or `timeout` s pass."""
        proc = self.procs[name]
        deadline = time.monotonic() + timeout
        while True:
            result = predicate()
            if result:
                return result
            if proc.poll() is not None:
                raise StackError(
                    f"{name} exited with {proc.returncode} before {what}\n{self.tail(name)}"
                )
            if time.monotonic() > deadline:
                raise StackError(f"no {what} within {timeout:.0f} s\n{self.tail(name)}")
            time.sleep(interval)

    def descendants(self, name: str) -> list[psutil.Process]:
        """A process's children and theirs, remembered for stop(): some leave its group."""
        proc = self.procs.get(name)
        if proc is None:
            return []
        try:
            found = psutil.Process(proc.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            found = []
        known = self._known.setdefault(name, {})
        for child in found:
            known.setdefault(child.pid, child)
        return found

    # --- redis
    def start_redis(self) -> None:
        """A private redis-server on redis_port: no persistence, gone with the stack."""
        args = ["redis-server", "--port", str(self.redis_port), "--bind", "127.0.0.1"]
        self.spawn("redis", [*args, "--save", "", "--appendonly", "no"])
        self.wait("redis", lambda: port_open(self.redis_port), timeout=10, what="redis")

    def stop_redis(self) -> None:
        self.stop("redis", sig=signal.SIGKILL)

    # --- celery
    def start_worker(self, name: str = "worker", concurrency: int = 2) -> None:
        self.spawn(
            name,
            [
                str(BIN / "celery"),
                "-A",
                "analytics_project",
                "worker",
                "-Q",
                ",".join(Queue),
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
        self.wait(name, lambda: self.logged(name, "ready"), timeout=30, what=f"{name} ready")

    def start_beat(self, name: str = "beat") -> None:
        """The Procfile's beat command as it stands, until beat says it is starting."""
        self.spawn(name, procfile_args("beat", self.env))
        self.wait(name, lambda: self.logged(name, "beat: Starting"), timeout=30, what=f"{name} up")

    def kill(self, name: str) -> None:
        """kill -9 the whole process group: the worker and its pool children."""
        self.stop(name, sig=signal.SIGKILL)

    # --- web
    def start_web(self, workers: int = 2) -> str:
        """Start the Procfile's web command as it stands, on this stack's port with `workers`.

        Read from the Procfile so the tests serve exactly what `make run` serves:
        worker class, threads and timeouts come with it (and its gunicorn_conf).
        """
        for _ in range(3):
            values = {**self.env, "PORT": str(self.web_port), "WEB_CONCURRENCY": str(workers)}
            self.spawn("web", procfile_args("web", values))
            bound = self.wait(
                "web",
                lambda: (
                    "listening"
                    if self.logged("web", "Listening at:")
                    else ("taken" if self.logged("web", "Connection in use") else None)
                ),
                timeout=30,
                what="gunicorn listening",
            )
            if bound == "listening":
                self.wait("web", lambda: port_open(self.web_port), timeout=30, what="gunicorn")
                return f"http://127.0.0.1:{self.web_port}"
            # free_port() only found the port free: another test's process took it since.
            self.stop("web", sig=signal.SIGKILL)
            self.web_port = free_port()
        raise StackError(f"gunicorn found no free port\n{self.tail('web')}")

    def start_live(self, name: str = "live") -> int:
        """The Procfile's live command (uvicorn, the WebSocket feed) as it stands, on a
        port of its own, until it accepts connections; returns the port."""
        port = free_port()
        values = {**self.env, "WS_PORT": str(port)}
        self.spawn(name, procfile_args("live", values))
        # uvicorn binds after the lifespan's startup: the open port is the sign.
        self.wait(name, lambda: port_open(port), timeout=30, what="uvicorn listening")
        return port

    def start_gunicorn(self, workers: int = 2, timeout: float = 60) -> None:
        """gunicorn with the project's config but none of the Procfile's extras (no access
        log), until health answers: what the metrics bench times its POSTs against."""
        self.spawn(
            "gunicorn",
            [
                str(BIN / "gunicorn"),
                "analytics_project.wsgi:application",
                "--config",
                "python:analytics_project.gunicorn_conf",
                "--bind",
                f"127.0.0.1:{self.web_port}",
                "--workers",
                str(workers),
            ],
        )
        self.wait(
            "gunicorn",
            lambda: health_ok(self.web_port),
            timeout=timeout,
            what="health from gunicorn",
            interval=0.2,
        )

    def start_honcho(self, timeout: float = 60) -> None:
        """`honcho start`: the whole Procfile (web, worker, beat, live) as `make run` starts
        it, on web_port (live on a free port), until health answers."""
        ports = {"PORT": str(self.web_port), "WS_PORT": str(free_port())}
        self.spawn("honcho", [str(BIN / "honcho"), "start"], {**self.env, **ports})
        self.wait(
            "honcho",
            lambda: health_ok(self.web_port),
            timeout=timeout,
            what="health from the server",
            interval=0.2,
        )
        self.descendants("honcho")

    # --- manage.py
    def manage(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def manage_ok(self, *args: str, timeout: float = 60) -> str:
        """manage.py's output; StackError when it fails or takes more than `timeout` s."""
        command = " ".join(args)
        try:
            done = self.manage(*args, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise StackError(f"manage.py {command} took more than {timeout:g} s") from None
        if done.returncode != 0:
            raise StackError(
                f"manage.py {command} exited {done.returncode}:\n{done.stdout}{done.stderr}"
            )
        return done.stdout

    # --- stopping
    def stop(self, name: str, sig: int = signal.SIGTERM, grace: float = 15) -> None:
        """`sig` to the process group; after `grace` s, SIGKILL to whatever is left of it.

        Children that left the group (honcho starts each in a session of its own) get
        5 s more to follow their parent out, then SIGKILL to their groups too.
        """
        self.descendants(name)
        proc = self.procs.pop(name, None)
        known = list(self._known.pop(name, {}).values())
        if proc is None:
            return
        _signal_group(proc.pid, sig)
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            pass
        outside = [child for child in known if _pgid(child.pid) not in (None, proc.pid)]
        _, alive = psutil.wait_procs(outside, timeout=5 if proc.poll() is not None else 0)
        # The leader's group too, even once the leader is gone: no worker outlives its master.
        for group in {proc.pid, *(_pgid(child.pid) for child in alive)} - {None}:
            _signal_group(group, signal.SIGKILL)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            print(f"warning: {name} (pid {proc.pid}) did not exit", file=sys.stderr)

    def close(self) -> None:
        for name in list(self.procs):
            self.stop(name, sig=signal.SIGKILL if name == "redis" else signal.SIGTERM)
