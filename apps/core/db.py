"""Database helpers every app may use."""

from django.db import connection
from django.db.models import QuerySet


def connection_lost() -> bool:
    """Whether the last database error took the connection with it (a restart, a cut):
    then nothing is known about the data, so callers retry rather than blame a row."""
    raw = connection.connection
    return connection.needs_rollback or raw is None or raw.closed or raw.broken


def union_all(querysets: list[QuerySet]) -> tuple[str, list]:
    """The querysets' SQL as one `UNION ALL` and its parameters, for an outer query that
    adds up what several apps' selectors found (each app still writes its own query)."""
    parts, params = [], []
    for queryset in querysets:
        sql, found = queryset.query.sql_with_params()
        parts.append(f"({sql})")
        params.extend(found)
    return " UNION ALL ".join(parts), params
