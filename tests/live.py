"""Real processes for pipeline and fault tests: a private Redis, Celery workers, gunicorn.

The processes are bench/stack's, the ones the benches start too; each gets the test
database and the private Redis through the environment, exactly as an operator would
configure them. What only a test knows is here: which database Django is connected
to, and the test's own connection to it, which survives the cuts a fault test makes.
"""

import http.client
from pathlib import Path

import orjson
from django.db import connection

import bench.stack
from bench.stack import ROOT, free_port, port_open, terminate_backends, wait_until

__all__ = [
    "ROOT",
    "Stack",
    "api_call",
    "current_database_url",
    "free_port",
    "port_open",
    "wait_until",
]


def current_database_url() -> str:
    """The database Django is connected to (the test database), as a DATABASE_URL."""
    db = connection.settings_dict
    return f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"


def api_call(port: int, method: str, path: str, key: str, body=None) -> tuple[int, object]:
    """One JSON request with an API key to the web process on `port`: (status, body)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        headers = {"X-API-Key": key, "Content-Type": "application/json"}
        conn.request(method, path, orjson.dumps(body) if body is not None else None, headers)
        response = conn.getresponse()
        return response.status, orjson.loads(response.read() or b"null")
    finally:
        conn.close()


class Stack(bench.stack.Stack):
    """Processes started for one test, logging to its tmp_path; `close()` stops every one
    of them and cuts the connections they left to the test database."""

    def __init__(self, tmp_path: Path, *, database_url: str | None = None):
        super().__init__(tmp_path, database_url=database_url or current_database_url())
        with connection.cursor() as cursor:  # the test's own connection survives cuts
            cursor.execute("SELECT pg_backend_pid()")
            self.own_pid = cursor.fetchone()[0]

    def close(self) -> None:
        super().close()
        # Connections the children held must be gone before the test database is flushed.
        self.cut_database_connections()

    def cut_database_connections(self) -> int:
        """Cut every other connection to the test database, as a database restart would."""
        return terminate_backends(connection.settings_dict["NAME"], keep_pid=self.own_pid)
