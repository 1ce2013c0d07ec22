"""The PostgreSQL databases and Redis queues a stack uses: made afresh, cut off, purged."""

import os
from urllib.parse import urlsplit, urlunsplit

import psycopg

from .processes import StackError

ADMIN_URL = "postgres://postgres@127.0.0.1:5432/postgres"


def with_dbname(url: str, name: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


def recreate_database(url: str) -> str:
    """Drop and create the database of `url`, empty; returns its name.

    Only a throwaway one: the name must say bench, so a mistyped URL cannot drop real data.
    """
    name = urlsplit(url).path.lstrip("/")
    if "bench" not in name or '"' in name:
        raise StackError(f"refusing to drop {name!r}: the bench database's name must say bench")
    with psycopg.connect(with_dbname(url, "postgres"), autocommit=True, connect_timeout=5) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return name


def terminate_backends(database: str, *, keep_pid: int, admin_url: str = ADMIN_URL) -> int:
    """Cut every connection to `database` but `keep_pid`'s, as a database restart would."""
    with psycopg.connect(admin_url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = %s AND pid <> %s",
            [database, keep_pid],
        ).fetchall()
    return len(rows)


def purge_queues(redis_url: str, key_prefix: str | None = None) -> None:
    """Drop Celery messages a bench left in its own Redis db (never db 0, which is shared):
    every key of the Celery namespace its processes derive from `redis_url` and
    REDIS_KEY_PREFIX (`key_prefix`, by default the one they inherit from this process)."""
    import redis

    from apps.core.redis import celery_keyprefix, redis_namespace

    client = redis.Redis.from_url(redis_url, socket_connect_timeout=2, socket_timeout=5)
    if (client.connection_pool.connection_kwargs.get("db") or 0) == 0:
        return
    if key_prefix is None:
        key_prefix = os.environ.get("REDIS_KEY_PREFIX", "")
    pattern = f"{celery_keyprefix(redis_namespace(redis_url, key_prefix))}*"
    doomed = list(client.scan_iter(match=pattern, count=1000))
    if doomed:
        client.delete(*doomed)
