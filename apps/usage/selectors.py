"""Product usage, across what clients send: events, user activity and AI usage, each
asked of the app that stores it. Which event types mean a scenario started or was
completed, a quiz taken or a grammar check is configuration (USAGE_* settings)."""

from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection
from django.utils import timezone

from apps.ai.selectors import conversation_count, user_request_buckets, user_request_counts
from apps.core.aggregates import rounded
from apps.core.db import union_all, work_mem
from apps.events.selectors import (
    event_type_count,
    scenario_count,
    scenario_popularity,
    user_activity_buckets,
    user_activity_counts,
    user_emails,
    user_event_buckets,
    user_event_counts,
)

from .models import UserDay, UserDaysCovered

ACTIVE_HOURS = 24


def _window(days: int | None) -> datetime | None:
    return None if days is None else timezone.now() - timedelta(days=days)


def _per_user(since: datetime | None, until: datetime | None = None) -> tuple[str, list]:
    """Every app's (user_id, n, first, last) rows, one UNION ALL."""
    window = {"since": since, "until": until}
    return union_all(
        [user_event_counts(**window), user_activity_counts(**window), user_request_counts(**window)]
    )


def user_period_counts(
    *, since: datetime, until: datetime, previous: datetime | None = None
) -> dict:
    """Users of the period [since, until): `total` seen before `until`, `active` in it,
    `new` (first seen in it), and with `previous`, `churned` (active in [previous,
    since), not in it)."""
    with connection.cursor() as cursor:
        sql, params = _per_user(None, until)
        cursor.execute(
            "SELECT COUNT(*), COUNT(*) FILTER (WHERE first >= %s), "  # noqa: S608
            "COUNT(*) FILTER (WHERE last >= %s) FROM (SELECT user_id, MIN(first) AS first, "
            f"MAX(last) AS last FROM ({sql}) u GROUP BY user_id) per_user",
            [since, since, *params],
        )
        total, new, active = cursor.fetchone()
        if previous is None:
            return {"total": total, "active": active, "new": new}
        sql, params = _per_user(previous, until)
        cursor.execute(  # seen since `previous`, last before `since`: gone this period
            "SELECT COUNT(*) FILTER (WHERE last < %s) FROM (SELECT user_id, "  # noqa: S608
            f"MAX(last) AS last FROM ({sql}) u GROUP BY user_id) per_user",
            [since, *params],
        )
        churned = cursor.fetchone()[0]
    return {"total": total, "active": active, "new": new, "churned": churned}


def users_seen(*, since: datetime, until: datetime) -> set[str]:
    """The users seen in [since, until) in events, activity or AI usage: what
    user_period_counts counts, as ids, for a rollup to remember."""
    sql, params = _per_user(since, until)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT DISTINCT user_id FROM ({sql}) u", params)  # noqa: S608
        return {user_id for (user_id,) in cursor.fetchall()}


def top_users(*, limit: int, days: int | None = None) -> list[dict]:
    """The most active users: events, activity and AI requests added up, ties broken by
    the most recent; with the email their latest event or activity gave."""
    sql, params = _per_user(_window(days))
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT user_id, SUM(n)::bigint, MAX(last) FROM ({sql}) per_user "  # noqa: S608
            "GROUP BY user_id ORDER BY 2 DESC, 3 DESC, 1 LIMIT %s",
            [*params, limit],
        )
        rows = cursor.fetchall()
    emails = user_emails([user_id for user_id, _n, _last in rows])
    return [
        {"user_id": user_id, "email": emails.get(user_id), "activity_count": n, "last_active": last}
        for user_id, n, last in rows
    ]


def popular_scenarios(*, limit: int, days: int | None = None) -> list[dict]:
    rows = scenario_popularity(
        started=settings.USAGE_SCENARIO_STARTED_EVENTS,
        completed=settings.USAGE_SCENARIO_COMPLETED_EVENTS,
        limit=limit,
        since=_window(days),
    )
    for row in rows:  # completions of runs started before the window may exceed the starts
        rate = 100 * row["completion_count"] / row["start_count"]
        row["completion_rate"] = rounded(min(rate, 100.0), 1)
    return rows


def usage_summary() -> dict:
    """The overview's `usage` block."""
    now = timezone.now()
    day_ago = now - timedelta(hours=ACTIVE_HOURS)
    users = user_period_counts(since=day_ago, until=now)
    return {
        "total_users": users["total"],
        "active_users_24h": users["active"],
        "total_scenarios": scenario_count(started=settings.USAGE_SCENARIO_STARTED_EVENTS),
        "active_conversations": conversation_count(since=day_ago),
        "total_quizzes_taken": event_type_count(settings.USAGE_QUIZ_EVENTS),
        "total_grammar_checks": event_type_count(settings.USAGE_GRAMMAR_CHECK_EVENTS),
    }


def _buckets(since: datetime, until: datetime, bucket: str) -> tuple[str, list]:
    """Every app's (user_id, bucket_start) pairs, one UNION ALL; bucket_start is a UTC
    `timestamp` without zone there (the ORM adds the zone back only to what it reads)."""
    window = {"since": since, "until": until, "bucket": bucket}
    return union_all(
        [
            user_event_buckets(**window),
            user_activity_buckets(**window),
            user_request_buckets(**window),
        ]
    )


def _day(moment: datetime) -> datetime:
    return moment.replace(hour=0, minute=0, second=0, microsecond=0)


# --- The users-seen-per-day rollup (models.UserDay) and the raw rows around it. Each read
# below answers what the raw rows alone answer: from the rollup over the span it covers,
# from the raw rows before it (a deployment older than the rollup) and after it (the hour
# not rolled up yet).

_DAYS = connection.ops.quote_name(UserDay._meta.db_table)
_LAST_MOMENT = timedelta(microseconds=1)


def user_days_span() -> tuple[datetime, datetime] | None:
    """The span the users-per-day rollup covers, None before its first run."""
    return UserDaysCovered.objects.values_list("start", "end").first()


def _covered(since: datetime | None, until: datetime) -> tuple[datetime, datetime] | None:
    """The part of [since, until) the rollup covers, None if none."""
    covered = user_days_span()
    if covered is None:
        return None
    start, end = max(since, covered[0]) if since else covered[0], min(until, covered[1])
    return (start, end) if start < end else None


def _joined(parts: list[tuple[str, list]]) -> tuple[str, list]:
    return " UNION ALL ".join(f"({sql})" for sql, _ in parts), [p for _, ps in parts for p in ps]


def _seen_buckets(since: datetime, until: datetime, bucket: str) -> tuple[str, list]:
    """(user_id, bucket_start) pairs of [since, until) as _buckets gives them (`since` a
    UTC midnight), the span the rollup covers read from it."""
    covered = _covered(since, until)
    if covered is None:
        return _buckets(since, until, bucket)
    start, end = covered
    rolled = (
        f"SELECT user_id, date_trunc(%s, day::timestamp) AS bucket_start FROM {_DAYS} "  # noqa: S608
        "WHERE day >= %s AND day <= %s",
        [bucket, start.date(), (end - _LAST_MOMENT).date()],
    )
    parts = [rolled]
    if since < start:
        parts.append(_buckets(since, start, bucket))
    if end < until:
        parts.append(_buckets(end, until, bucket))
    return _joined(parts)


def _first_seen(until: datetime) -> tuple[str, list]:
    """(user_id, first) pairs, `first` a time on the UTC day each user was first seen
    before `until` (the rollup keeps days), a user maybe in several pairs."""

    def raw(since: datetime | None, before: datetime) -> tuple[str, list]:
        sql, params = _per_user(since, before)
        return f"SELECT user_id, first FROM ({sql}) p", params  # noqa: S608

    covered = _covered(None, until)
    if covered is None:
        return raw(None, until)
    start, end = covered
    parts = [
        raw(None, start),
        (
            f"SELECT user_id, MIN(day)::timestamp AT TIME ZONE 'UTC' FROM {_DAYS} "  # noqa: S608
            "WHERE day <= %s GROUP BY user_id",
            [(end - _LAST_MOMENT).date()],
        ),
    ]
    if end < until:
        parts.append(raw(end, until))
    return _joined(parts)


# Counted from the days each user was seen, without joining days to days. A user seen
# on day x is in the 7-day window of the days [x, x + 7), so is counted there unless a
# previous day seen, p, already covers them: their stretch of new coverage starts at
# GREATEST(x, p + 7) and ends at x + 7. WAU(d) is then the stretches started by d less
# those ended by d, i.e. less the user-days seen before d - 6; the same with 30 days for
# MAU. Three GROUP BYs of a few hundred rows each, then running sums: joining every day to
# every user-day of its 30-day window took 41-66 s for 20,000 users (150,000 events).
_ACTIVE_STARTS = (
    "WITH seen AS (SELECT user_id, bucket_start AT TIME ZONE 'UTC' AS day "
    "FROM ({sql}) u GROUP BY 1, 2), "
    'runs AS (SELECT day, LAG(day) OVER (PARTITION BY user_id COLLATE "C" ORDER BY day) AS prev '
    "FROM seen) "
    "SELECT 0, day, COUNT(*) FROM runs GROUP BY day "
    "UNION ALL SELECT 7, GREATEST(day, prev + interval '7 days') AS at, COUNT(*) "
    "FROM runs GROUP BY at "
    "UNION ALL SELECT 30, GREATEST(day, prev + interval '30 days') AS at, COUNT(*) "
    "FROM runs GROUP BY at"
)


def active_users(*, days: int, now: datetime | None = None) -> dict:
    """Daily, weekly and monthly active users (seen in events, activity or AI usage) for
    each of the last `days` UTC days, today included: the users of that day, of the 7
    and of the 30 days ending with it."""
    now = now or timezone.now()
    last = _day(now)
    first = last - timedelta(days=days - 1)
    lookback = first - timedelta(days=29)
    sql, params = _seen_buckets(lookback, now, "day")
    # user-days (0), and stretches of the 7- and 30-day windows starting, per day
    starts: dict[int, dict[datetime, int]] = {0: {}, 7: {}, 30: {}}
    with work_mem(64), connection.cursor() as cursor:  # one sort in memory, not on disk
        cursor.execute(_ACTIVE_STARTS.format(sql=sql), params)
        for width, at, n in cursor.fetchall():
            starts[width][at] = n
    seen, total = starts[0], {7: 0, 30: 0}
    series = []
    day = lookback
    while day <= last:
        for width in (7, 30):
            total[width] += starts[width].get(day, 0) - seen.get(day - timedelta(days=width), 0)
        if day >= first:
            series.append(
                {"date": day.date(), "dau": seen.get(day, 0), "wau": total[7], "mau": total[30]}
            )
        day += timedelta(days=1)
    latest = series[-1]
    return {"dau": latest["dau"], "wau": latest["wau"], "mau": latest["mau"], "series": series}


def retention(*, weeks: int, now: datetime | None = None) -> dict:
    """Weekly cohorts of the last `weeks` ISO weeks (UTC), by the week each user was first
    seen: its size, and how many of it were seen again in each week since."""
    now = now or timezone.now()
    this_week = _day(now) - timedelta(days=now.weekday())
    first_week = this_week - timedelta(weeks=weeks - 1)
    firsts_sql, firsts_params = _first_seen(now)
    weeks_sql, weeks_params = _seen_buckets(first_week, now, "week")
    with connection.cursor() as cursor:
        cursor.execute(
            "WITH firsts AS (SELECT user_id, date_trunc('week', MIN(first) AT TIME ZONE 'UTC') "  # noqa: S608
            f"AT TIME ZONE 'UTC' AS cohort FROM ({firsts_sql}) u GROUP BY user_id), "
            "seen AS (SELECT DISTINCT user_id, bucket_start AT TIME ZONE 'UTC' AS week "
            f"FROM ({weeks_sql}) b) "
            "SELECT f.cohort, s.week, COUNT(*) FROM firsts f JOIN seen s USING (user_id) "
            "WHERE f.cohort >= %s AND s.week >= f.cohort GROUP BY 1, 2",
            [*firsts_params, *weeks_params, first_week],
        )
        retained = {(cohort, week): n for cohort, week, n in cursor.fetchall()}
    cohorts = []
    for index in range(weeks):
        cohort = first_week + timedelta(weeks=index)
        size = retained.get((cohort, cohort), 0)
        counts = [
            retained.get((cohort, cohort + timedelta(weeks=k)), 0) for k in range(weeks - index)
        ]
        cohorts.append(
            {
                "cohort_start": cohort.date(),
                "size": size,
                "retained": counts,
                "retention": [round(n / size, 4) if size else 0.0 for n in counts],
            }
        )
    return {"weeks": weeks, "cohorts": cohorts}
