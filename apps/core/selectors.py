"""Reads about the service itself."""

from django.db import DatabaseError, connection
from redis import RedisError

from .redis import get_redis


def health_probe() -> dict[str, str]:
    """{"status": "ok" | "degraded", "database": "ok" | "unavailable", "redis": ...}:
    a real query and a real Redis round trip, each failing fast."""
    checks = {"database": "ok", "redis": "ok"}
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except DatabaseError:
        checks["database"] = "unavailable"
    try:
        get_redis().ping()
    except RedisError:
        checks["redis"] = "unavailable"
    healthy = all(value == "ok" for value in checks.values())
    return {"status": "ok" if healthy else "degraded", **checks}
