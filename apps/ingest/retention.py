"""Retention: how long each kind's rows (and the tables derived from them) are kept.

The pipeline refuses items older than their kind's cutoff and the daily purge
deletes rows older than it: both ask `retention_cutoff`, so nothing is
accepted that the next purge would delete at once.
"""

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core import checks
from django.db import connection, models, transaction
from django.utils import timezone

from .partitions import is_partitioned, partitions_expired_drop, time_table
from .registry import all_kinds, get_kind

logger = logging.getLogger(__name__)


def retention_overrides_check(app_configs, **kwargs) -> list[checks.CheckMessage]:
    """ANALYTICS_RETENTION_DAYS_<KIND> must name a kind: a typo would keep data silently."""
    kinds = sorted(kind.name for kind in all_kinds())
    return [
        checks.Error(
            f"ANALYTICS_RETENTION_DAYS_{name.upper()} names no kind of record; the kinds are "
            + ", ".join(k.upper() for k in kinds)
            + ".",
            id="ingest.E001",
        )
        for name in sorted(settings.ANALYTICS_RETENTION_BY_KIND)
        if name not in kinds
    ]


def retention_days(kind: str) -> int:
    """How long rows of `kind` are kept (ANALYTICS_RETENTION_DAYS_<KIND>, else the default)."""
    return settings.ANALYTICS_RETENTION_BY_KIND.get(kind, settings.ANALYTICS_RETENTION_DAYS)


def retention_cutoff(kind: str, *, now: datetime | None = None) -> datetime:
    """Rows of `kind` older than this are past retention."""
    return (now or timezone.now()) - timedelta(days=retention_days(kind))


@dataclass(frozen=True)
class RetentionTarget:
    """One table retention applies to: a kind's own, or one derived from it."""

    label: str  # "metric", or "metric:metricrollup" for a derived table
    kind: str
    model: type[models.Model]
    column: str

    def expired(self, cutoff: datetime) -> models.QuerySet:
        return self.model.objects.filter(**{f"{self.column}__lt": cutoff})


def retention_targets() -> list[RetentionTarget]:
    """Every kind's table, then the tables each kind declares as derived from it."""
    kinds = all_kinds()
    targets = [RetentionTarget(kind.name, kind.name, kind.model, "timestamp") for kind in kinds]
    for kind in kinds:
        for model, column in kind.derived_tables:
            label = f"{kind.name}:{model._meta.model_name}"
            targets.append(RetentionTarget(label, kind.name, model, column))
    return targets


def expired_purge(
    *,
    target: RetentionTarget,
    cutoff: datetime,
    batch_size: int | None = None,
    progress: Callable[[int], None] | None = None,
    table: str | None = None,
) -> int:
    """Delete the target's rows older than `cutoff`, at most `batch_size` per statement
    (from `table`, one of its partitions, if given)."""
    size = batch_size or settings.PURGE_BATCH_SIZE
    table = table or target.model._meta.db_table
    moment = connection.ops.quote_name(target.column)
    total = 0
    while True:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                f"DELETE FROM {table} WHERE id IN ("
                f"  SELECT id FROM {table} WHERE {moment} < %s LIMIT %s)",
                [cutoff, size],
            )
            deleted = cursor.rowcount
        total += deleted
        if progress is not None and deleted:
            progress(deleted)
        if deleted < size:
            return total


# progress(label, due): called once per table with rows due, returns the callback
# that gets each batch's deleted count (a progress bar's update), or None.
PurgeProgress = Callable[[str, int], Callable[[int], None] | None]

# Tables that are no kind's and keep their own rule (health checks, the alerting
# history): their app registers a purge from AppConfig.ready, and the daily purge and
# `purge_analytics` run it after the kinds' tables. purge(now=...) returns
# {label: (rows deleted, cutoff)}; it deletes in bounded batches; not run on a dry run.
OtherPurge = Callable[..., dict[str, tuple[int, datetime]]]
_other_purges: dict[str, OtherPurge] = {}


def purge_register(name: str, purge: OtherPurge) -> None:
    """Have the daily purge also run `purge` (once per name: a re-import replaces it)."""
    _other_purges[name] = purge


def retention_purge(
    *, dry_run: bool = False, progress: PurgeProgress | None = None
) -> dict[str, tuple[int, datetime]]:
    """Apply every kind's retention. Returns {label: (rows deleted or due, cutoff)}."""
    now = timezone.now()
    result = {}
    for target in retention_targets():
        cutoff = retention_cutoff(target.kind, now=now)
        kind = get_kind(target.kind)
        if target.label == kind.name and is_partitioned(kind):
            # Whole days dropped; the rows of a day partly inside the window stay.
            on_batch = progress(target.label, 0) if progress and not dry_run else None
            rows = partitions_expired_drop(
                table=time_table(kind.name),
                now=now,
                dry_run=dry_run,
                batch=lambda table, t=target, c=cutoff, p=on_batch: expired_purge(
                    target=t, cutoff=c, progress=p, table=table
                ),
            )
            result[target.label] = (rows, cutoff)
            continue
        if dry_run:
            result[target.label] = (target.expired(cutoff).count(), cutoff)
            continue
        on_batch = progress(target.label, target.expired(cutoff).count()) if progress else None
        deleted = expired_purge(target=target, cutoff=cutoff, progress=on_batch)
        result[target.label] = (deleted, cutoff)
    if dry_run:
        return result
    failed = None
    for name, purge in _other_purges.items():
        try:
            result.update(purge(now=now))
        except Exception as exc:  # the others still run; the purge as a whole fails after
            logger.exception("the %s purge failed", name)
            failed = failed or exc
    if failed is not None:
        raise failed
    return result
