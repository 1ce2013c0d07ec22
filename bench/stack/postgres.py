"""PostgreSQL servers of their own: a primary and its streaming replica, made with the
server's own programs (initdb, pg_ctl, pg_basebackup), on this machine or on a
simulated host (hosts.py), gone with the test or bench that made them."""

import glob
import os
import shutil
import subprocess
from pathlib import Path

import psycopg

from .hosts import Host
from .processes import StackError, free_port

BIN = next(iter(sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)), "")


def server_programs_missing() -> str | None:
    """Why servers cannot be made here, or None when they can."""
    if not BIN:
        return "PostgreSQL's server programs are not installed here"
    if os.geteuid() == 0 and not shutil.which("runuser"):
        return "runuser is missing: initdb and the server refuse to run as root"
    return None


def as_postgres_argv(*args: str) -> list[str]:
    """A PostgreSQL program's argv, as the postgres user when this runs as root (initdb
    and the server refuse root)."""
    return [*(["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []), *args]


class Cluster:
    """One server: its data directory under `base`, listening on 127.0.0.1 (a free port)
    or on `host`'s address (5432, as on a machine of its own)."""

    def __init__(self, base: Path, name: str, host: Host | None = None):
        self.dir, self.log, self.host = base / name, base / f"{name}.log", host
        self.address = host.address if host else "127.0.0.1"
        self.port = 5432 if host else free_port()

    def url(self, db: str = "app") -> str:
        return f"postgres://postgres@{self.address}:{self.port}/{db}"

    def run(self, *args: str, timeout: float = 120) -> str:
        argv = as_postgres_argv(*args)
        done = subprocess.run(
            self.host.argv(argv) if self.host else argv,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if done.returncode != 0:
            log = self.log.read_text()[-2000:] if self.log.exists() else ""
            raise StackError(f"{Path(args[0]).name}: {done.stderr[-2000:]}\n{log}")
        return done.stdout

    def init(self) -> None:
        """A new cluster, trusting the machine itself and, on a host, its subnet."""
        self.run(f"{BIN}/initdb", "-D", str(self.dir), "-U", "postgres", "--auth=trust")
        if self.host:
            subnet = self.host.address.rsplit(".", 1)[0] + ".0/24"
            with open(self.dir / "pg_hba.conf", "a") as hba:
                hba.write(f"host all all {subnet} trust\nhost replication all {subnet} trust\n")

    def replicate(self, primary: "Cluster") -> None:
        """This cluster as a streaming replica of `primary`, from a base backup."""
        self.run(
            f"{BIN}/pg_basebackup",
            *("-h", primary.address, "-p", str(primary.port), "-U", "postgres"),
            *("-D", str(self.dir), "-R", "-X", "stream"),
            # The checkpoint it starts from, at once: a spread one is paced over minutes
            # and timed out once the schema had ~100 tables (the daily partitions).
            *("-c", "fast"),
        )

    def start(self, *settings: str) -> None:
        """The server, with `settings` (`name=value`) on its command line."""
        listen = f"{self.address},127.0.0.1" if self.host else "127.0.0.1"
        # Its socket outside the data directory, which a base backup copies whole.
        sockets = self.dir.parent / f"{self.dir.name}-socket"
        sockets.mkdir(mode=0o777, exist_ok=True)
        sockets.chmod(0o777)
        options = " ".join(
            [f"-p {self.port} -k {sockets} -c listen_addresses={listen} -c fsync=off"]
            + [f"-c {setting}" for setting in settings]
        )
        self.run(
            f"{BIN}/pg_ctl", "-D", str(self.dir), "-l", str(self.log), "-w", "-o", options, "start"
        )

    def stop(self) -> None:
        if self.dir.exists():
            argv = as_postgres_argv(f"{BIN}/pg_ctl", "-D", str(self.dir), "-m", "immediate", "stop")
            subprocess.run(  # it may have stopped already
                self.host.argv(argv) if self.host else argv, capture_output=True, timeout=60
            )

    def sql(self, statement: str, params=None, db: str = "app"):
        with psycopg.connect(self.url(db), autocommit=True, connect_timeout=5) as conn:
            cursor = conn.execute(statement, params)
            return cursor.fetchall() if cursor.description else []
