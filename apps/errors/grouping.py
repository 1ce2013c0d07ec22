"""Errors into issues, in the statement that stores them (the error kind's `after_insert`).

The statements read `inserted`: only the rows this statement stored, so an item
already stored (a retried batch, its event_id conflicting) is never counted again.
Counts are added, not recomputed, under the rows' locks, so concurrent batches stay
exact: a batch that meets an issue or an (issue, user) row another uncommitted batch
wrote waits for it and then adds to what it committed.

- derived_0: the batch's errors per fingerprint (count, first and last seen, the
  first event's title, culprit, type and category, the worst severity, releases).
- derived_1: the (fingerprint, user) pairs, inserted once each ever; the rows it
  inserts (xmax = 0) are the issue's new users.
- derived_2: the issues upserted: counts added, last seen moved, a resolved issue
  reopened (a regression); `last_batch_reopened` tells which were.
- derived_3: the timeline's `first_seen` and `regressed` entries, naming the event.
- derived_4: the (fingerprint, release) pairs the batch's errors name (an empty release
  is not one): events added, first and last seen moved.

Locks are taken in one order by every batch (errors, then users sorted, then issues
sorted, then releases sorted; each step reads an aggregate of the one before, so it
waits for it to end), so two batches cannot deadlock on them.
"""

from .models import ErrorLog, Issue, IssueActivity, IssueRelease, IssueUser

_ISSUE = Issue._meta.db_table
_USER = IssueUser._meta.db_table
_ACTIVITY = IssueActivity._meta.db_table
_RELEASE = IssueRelease._meta.db_table
_RANK = "array_position(ARRAY['critical', 'error', 'warning', 'info']::varchar[], {})"
_FIRST = 'ORDER BY "timestamp", event_id'

AFTER_INSERT = (
    f"""SELECT fingerprint, count(*) AS n, min("timestamp") AS first_seen,
        max("timestamp") AS last_seen,
        (array_agg(left(error_message, 255) {_FIRST}))[1] AS title,
        (array_agg(culprit {_FIRST}))[1] AS culprit,
        (array_agg(error_code {_FIRST}))[1] AS error_code,
        (array_agg(category {_FIRST}))[1] AS category,
        (array_agg(severity ORDER BY {_RANK.format("severity")}))[1] AS severity,
        coalesce((array_agg(release {_FIRST}) FILTER (WHERE release <> ''))[1], '')
            AS first_release,
        coalesce((array_agg(release ORDER BY "timestamp" DESC, event_id DESC)
            FILTER (WHERE release <> ''))[1], '') AS last_release,
        (array_agg(event_id {_FIRST}))[1] AS first_event
    FROM inserted WHERE fingerprint <> '' GROUP BY fingerprint""",  # noqa: S608 - our tables' names
    f"""INSERT INTO {_USER} AS u (fingerprint, user_id, last_seen)
    SELECT fingerprint, user_id, max("timestamp") FROM inserted
    WHERE user_id <> '' AND fingerprint <> ''
    GROUP BY 1, 2 ORDER BY 1, 2
    ON CONFLICT (fingerprint, user_id) DO UPDATE SET last_seen = EXCLUDED.last_seen
        WHERE u.last_seen < EXCLUDED.last_seen - interval '1 day'
    RETURNING fingerprint, xmax = 0 AS new""",  # noqa: S608
    f"""INSERT INTO {_ISSUE} AS i (fingerprint, title, culprit, error_code, category,
        severity, status, first_seen, last_seen, event_count, users_affected,
        first_release, last_release, regressions, resolved_by, last_batch_reopened)
    SELECT g.fingerprint, g.title, g.culprit, g.error_code, g.category, g.severity,
        'unresolved', g.first_seen, g.last_seen, g.n, coalesce(u.n, 0), g.first_release,
        g.last_release, 0, '', false
    FROM derived_0 g LEFT JOIN (
        SELECT fingerprint, count(*) AS n FROM derived_1 WHERE new GROUP BY 1
    ) u USING (fingerprint)
    ORDER BY g.fingerprint
    ON CONFLICT (fingerprint) DO UPDATE SET
        event_count = i.event_count + EXCLUDED.event_count,
        users_affected = i.users_affected + EXCLUDED.users_affected,
        first_seen = least(i.first_seen, EXCLUDED.first_seen),
        last_seen = greatest(i.last_seen, EXCLUDED.last_seen),
        severity = CASE WHEN {_RANK.format("EXCLUDED.severity")} < {_RANK.format("i.severity")}
            THEN EXCLUDED.severity ELSE i.severity END,
        first_release = CASE WHEN i.first_release = '' THEN EXCLUDED.first_release
            ELSE i.first_release END,
        last_release = CASE WHEN EXCLUDED.last_release <> ''
            AND EXCLUDED.last_seen >= i.last_seen THEN EXCLUDED.last_release
            ELSE i.last_release END,
        status = CASE WHEN i.status = 'resolved' THEN 'unresolved' ELSE i.status END,
        regressions = i.regressions + (i.status = 'resolved')::int,
        resolved_at = CASE WHEN i.status = 'resolved' THEN NULL ELSE i.resolved_at END,
        resolved_by = CASE WHEN i.status = 'resolved' THEN '' ELSE i.resolved_by END,
        last_batch_reopened = i.status = 'resolved'
    RETURNING id, fingerprint, xmax = 0 AS created, last_batch_reopened""",  # noqa: S608
    f"""INSERT INTO {_ACTIVITY} (issue_id, kind, at, actor, event_id, note)
    SELECT d.id, CASE WHEN d.created THEN 'first_seen' ELSE 'regressed' END,
        statement_timestamp(), '',
        g.first_event, ''
    FROM derived_2 d JOIN derived_0 g USING (fingerprint)
    WHERE d.created OR d.last_batch_reopened
    ORDER BY d.id""",  # noqa: S608
    # After the issues: the count reads all of derived_2 (its locks) before any row here.
    f"""INSERT INTO {_RELEASE} AS r (fingerprint, release, first_seen, last_seen, events)
    SELECT fingerprint, release, min("timestamp"), max("timestamp"), count(*) FROM inserted
    WHERE release <> '' AND fingerprint <> '' AND (SELECT count(*) FROM derived_2) > 0
    GROUP BY 1, 2 ORDER BY 1, 2
    ON CONFLICT (fingerprint, release) DO UPDATE SET
        events = r.events + EXCLUDED.events,
        first_seen = least(r.first_seen, EXCLUDED.first_seen),
        last_seen = greatest(r.last_seen, EXCLUDED.last_seen)""",  # noqa: S608
)
RETURNING = (
    "event_id",
    "timestamp",
    "fingerprint",
    "culprit",
    "release",
    "category",
    "severity",
    "error_message",
    "error_code",
    "user_id",
)

assert {f.column for f in ErrorLog._meta.concrete_fields} >= set(RETURNING)
