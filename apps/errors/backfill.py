"""Errors stored before issues existed, fingerprinted and grouped (`manage.py group_errors`).

Each batch is one statement: the rows' fingerprints set by an UPDATE whose RETURNING
stands for `inserted` in the very statements that group stored errors (grouping.py),
so the counts are built exactly as ingest builds them. Only rows still without a
fingerprint are taken, so a run that stops half way is resumed by running it again,
and it can run while errors arrive. It derives no `errors.issues_opened` points: old
errors open no incident.
"""

import orjson
from django.db import connection, transaction

from .fingerprints import enrich_error
from .grouping import AFTER_INSERT, RETURNING
from .models import ErrorLog

BATCH = 2000
_TABLE = ErrorLog._meta.db_table


def _statement() -> str:
    quote = connection.ops.quote_name
    returning = ", ".join(f"e.{quote(c)}" for c in RETURNING)
    derived = "".join(f", derived_{i} AS ({sql})" for i, sql in enumerate(AFTER_INSERT))
    return (  # our tables' names and fixed fragments; the values go as a parameter
        f"WITH v AS (SELECT * FROM jsonb_to_recordset(%s::jsonb) AS r(id bigint, "  # noqa: S608
        "fingerprint varchar, culprit varchar, release varchar)), "
        f"inserted AS (UPDATE {_TABLE} e SET fingerprint = v.fingerprint, culprit = v.culprit, "
        f"release = v.release FROM v WHERE e.id = v.id AND e.fingerprint = '' "
        f"RETURNING {returning}){derived} SELECT count(*) FROM inserted"
    )


def errors_group_batch(*, after_id: int = 0, batch: int = BATCH) -> tuple[int, int]:
    """Fingerprint and group the next `batch` errors without a fingerprint after
    `after_id`; (rows grouped, the last id read), (0, after_id) when none are left."""
    fields = ("id", "error_message", "error_code", "endpoint", "stack_trace", "context")
    rows = list(
        ErrorLog.objects.filter(pk__gt=after_id, fingerprint="")
        .order_by("pk")
        .values(*fields)[:batch]
    )
    if not rows:
        return 0, after_id
    values = []
    for row in rows:
        enrich_error(row, None)
        values.append({k: row[k] for k in ("id", "fingerprint", "culprit", "release")})
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(_statement(), [orjson.dumps(values).decode()])
        grouped = cursor.fetchone()[0]
    return grouped, rows[-1]["id"]


def errors_group_all(*, batch: int = BATCH, progress=None) -> int:
    """errors_group_batch until no error is left without a fingerprint; how many."""
    total, after = 0, 0
    while True:
        grouped, last = errors_group_batch(after_id=after, batch=batch)
        if last == after:
            return total
        total, after = total + grouped, last
        if progress is not None:
            progress(total)
