"""How beat's entries fare: runs per entry and outcome, and failures in a row.

Beat sends each entry of settings.PERIODIC_TASKS with a `periodic_task_name` header
(django-celery-beat); the worker's task signals count each run here, in Redis, so
/metrics, the health answers and the built-in `periodic-tasks` check can say that a
job has been failing (the outbox sweeper once raised every 30 s for weeks unseen).
"""

from apps.core.redis import redis_key
from apps.core.services import MANAGED_PREFIX


def runs_key() -> str:
    """Hash: `<entry>|<succeeded|failed>` -> runs since Redis last started."""
    return redis_key("periodic", "runs")


def failing_key() -> str:
    """Hash: entry -> failures in a row (absent after a success)."""
    return redis_key("periodic", "failing")


def errors_key() -> str:
    """Hash: entry -> the last failure's error, one line."""
    return redis_key("periodic", "errors")


def entry_name(header: str) -> str:
    """The PERIODIC_TASKS name of a beat row's name (`analytics:sweep-outbox`)."""
    return header.removeprefix(MANAGED_PREFIX)
