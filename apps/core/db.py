"""Database helpers every app may use."""

from django.db import connection


def connection_lost() -> bool:
    """Whether the last database error took the connection with it (a restart, a cut):
    then nothing is known about the data, so callers retry rather than blame a row."""
    raw = connection.connection
    return connection.needs_rollback or raw is None or raw.closed or raw.broken
