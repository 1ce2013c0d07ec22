import sys

import psycopg
import redis
from django.conf import settings
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Check PostgreSQL and Redis answer (and create the database if missing)."
    requires_system_checks: list = []

    def add_arguments(self, parser):
        parser.add_argument("--create-database", action="store_true")

    def handle(self, *args, create_database: bool = False, **options):
        db = settings.DATABASES["default"]
        where = f"{db['HOST']}:{db['PORT']}"
        params = dict(
            host=db["HOST"],
            port=db["PORT"],
            user=db["USER"],
            password=db["PASSWORD"] or None,
            connect_timeout=3,
        )
        try:
            with psycopg.connect(dbname="postgres", autocommit=True, **params) as conn:
                exists = conn.execute(
                    "SELECT 1 FROM pg_database WHERE datname = %s", [db["NAME"]]
                ).fetchone()
                if not exists and create_database:
                    conn.execute(f'CREATE DATABASE "{db["NAME"]}"')
                    self.stdout.write(f"Created database {db['NAME']!r}.")
        except psycopg.OperationalError:
            self._fail(
                f"PostgreSQL is not answering at {where}; start it or point DATABASE_URL at it."
            )
        try:
            redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=2).ping()
        except redis.RedisError:
            self._fail(
                f"Redis is not answering at {settings.REDIS_URL}; start it or set REDIS_URL."
            )

    def _fail(self, sentence: str) -> None:
        self.stderr.write(sentence)
        sys.exit(1)
