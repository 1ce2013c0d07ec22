"""What an attacker with a copy of the database reads: every row of every table, as text.

assert tables_holding("tok3n-value") == []   # the secret is nowhere in clear
"""

from django.db import connection


def tables_holding(secret: str) -> list[str]:
    """The tables (partitions counted under their parent) with a row whose text holds
    `secret`, read with raw SQL: no model field decrypts or masks anything here."""
    found = []
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p') AND NOT c.relispartition
            ORDER BY 1
            """
        )
        tables = [name for (name,) in cursor.fetchall()]
        for table in tables:
            cursor.execute(
                f"SELECT 1 FROM {connection.ops.quote_name(table)} AS t "
                "WHERE strpos(t::text, %s) > 0 LIMIT 1",
                [secret],
            )
            if cursor.fetchone():
                found.append(table)
    return found


def raw_column(table: str, column: str, pk: int) -> str:
    """One stored value as the database holds it."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {connection.ops.quote_name(column)} FROM "
            f"{connection.ops.quote_name(table)} WHERE id = %s",
            [pk],
        )
        return cursor.fetchone()[0]
