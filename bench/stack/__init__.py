"""The processes and clients the benches and the live tests start and drive.

One home for process control: spawning the Procfile's commands (gunicorn, celery,
honcho) and a private redis-server, each in its own process group with its output in
a log file; waiting for a port, a log line or health; stopping a whole group (SIGTERM,
then SIGKILL) or killing it for fault tests; throwaway databases and Redis queues;
clients that trickle bytes, or send them raw, on purpose.

It lives in bench/ as a package because of how each side imports it: the benches run
as scripts (`python bench/ingest.py`, so bench/ is on sys.path) and say `import stack`;
the tests run from the repository root and say `import bench.stack`. Relative imports
inside the package work under both names, so it must import nothing else from bench/
or tests/, and nothing of Django (the tests' Django specifics stay in tests/live.py);
the queue names come from apps/core/queues.py, a plain enum, and the Redis namespace
from apps/core/redis.py's redis_namespace(), which reads no settings.
"""

from .clients import HEALTH_PATH, INGEST_PATH, SlowClients, health_ok, raw_request
from .processes import (
    BIN,
    ROOT,
    Stack,
    StackError,
    free_port,
    port_open,
    procfile_line,
    service_env,
    wait_until,
)
from .stores import purge_queues, recreate_database, terminate_backends, with_dbname

__all__ = [
    "BIN",
    "HEALTH_PATH",
    "INGEST_PATH",
    "ROOT",
    "SlowClients",
    "Stack",
    "StackError",
    "free_port",
    "health_ok",
    "port_open",
    "procfile_line",
    "purge_queues",
    "raw_request",
    "recreate_database",
    "service_env",
    "terminate_backends",
    "wait_until",
    "with_dbname",
]
