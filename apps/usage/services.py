"""Writes of the users-seen-per-day rollup (see models.py)."""

from collections.abc import Iterable
from datetime import datetime, timedelta

from django.db import connection, transaction

from .models import UserDay, UserDaysCovered

BATCH = 5000


def next_midnight(moment: datetime) -> datetime:
    """The UTC midnight after `moment` (the next day's start)."""
    return moment.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)


def user_days_record(*, users: Iterable[str], start: datetime, end: datetime) -> None:
    """Remember `users` as seen in [start, end), a span inside one UTC day, and widen the
    span the rollup covers to hold it (spans are rolled up contiguously; rolling one up
    again, for items that arrived late, only adds users)."""
    if end > next_midnight(start):
        raise ValueError(f"[{start}, {end}) is not inside one UTC day")
    days = connection.ops.quote_name(UserDay._meta.db_table)
    covered = connection.ops.quote_name(UserDaysCovered._meta.db_table)
    ordered = sorted(users)
    with transaction.atomic(), connection.cursor() as cursor:
        for at in range(0, len(ordered), BATCH):
            cursor.execute(
                f"INSERT INTO {days} (day, user_id) SELECT %s, u "  # noqa: S608
                "FROM unnest(%s::varchar[]) AS u ON CONFLICT (day, user_id) DO NOTHING",
                [start.date(), ordered[at : at + BATCH]],
            )
        cursor.execute(  # one row, whoever writes first; two runs at once widen it in turn
            f'INSERT INTO {covered} AS c (id, start, "end", updated_at) '  # noqa: S608
            "VALUES (1, %s, %s, now()) ON CONFLICT (id) DO UPDATE SET "
            'start = LEAST(c.start, EXCLUDED.start), "end" = GREATEST(c.end, EXCLUDED.end), '
            "updated_at = now()",
            [start, end],
        )


def user_days_forget() -> None:
    """Forget the rollup (its reads go back to the raw rows until it is rolled up again)."""
    with transaction.atomic():
        UserDaysCovered.objects.all().delete()
        UserDay.objects.all().delete()
