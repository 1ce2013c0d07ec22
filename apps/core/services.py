"""Project-wide services: periodic schedules and retention."""

from collections.abc import Callable
from datetime import timedelta

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone
from django_celery_beat.models import CrontabSchedule, IntervalSchedule, PeriodicTask

MANAGED_PREFIX = "analytics:"


def schedules_sync() -> tuple[int, int, int]:
    """Make beat's table match settings.PERIODIC_TASKS: add, update, remove (ours only)."""
    created = updated = 0
    wanted = settings.PERIODIC_TASKS
    with transaction.atomic():
        for name, spec in wanted.items():
            defaults = {"task": spec["task"], "enabled": True, "interval": None, "crontab": None}
            if "every_seconds" in spec:
                interval, _ = IntervalSchedule.objects.get_or_create(
                    every=spec["every_seconds"], period=IntervalSchedule.SECONDS
                )
                defaults["interval"] = interval
                # A backlog must not run an interval job many times over.
                defaults["expire_seconds"] = spec["every_seconds"]
            else:
                minute, hour, day, month, weekday = spec["crontab"].split()
                crontab, _ = CrontabSchedule.objects.get_or_create(
                    minute=minute,
                    hour=hour,
                    day_of_month=day,
                    month_of_year=month,
                    day_of_week=weekday,
                    timezone="UTC",
                )
                defaults["crontab"] = crontab
            task, was_created = PeriodicTask.objects.get_or_create(
                name=MANAGED_PREFIX + name, defaults=defaults
            )
            if was_created:
                created += 1
                continue
            changed = [k for k, v in defaults.items() if getattr(task, k) != v]
            if changed:
                for key in changed:
                    setattr(task, key, defaults[key])
                task.save()
                updated += 1
        removed, _ = (
            PeriodicTask.objects.filter(name__startswith=MANAGED_PREFIX)
            .exclude(name__in=[MANAGED_PREFIX + n for n in wanted])
            .delete()
        )
    return created, updated, removed


def retention_cutoff(kind: str, *, now=None):
    days = settings.ANALYTICS_RETENTION_BY_KIND.get(kind, settings.ANALYTICS_RETENTION_DAYS)
    return (now or timezone.now()) - timedelta(days=days)


# Derived tables that follow a kind's retention: (kind, "app_label.Model", time column).
RETENTION_FOLLOWERS = [("metric", "metrics.MetricRollup", "bucket_start")]


def expired_count(*, model, cutoff, column: str = "timestamp") -> int:
    return model.objects.filter(**{f"{column}__lt": cutoff}).count()


def expired_purge(
    *,
    model,
    cutoff,
    batch_size: int | None = None,
    progress: Callable[[int], None] | None = None,
    column: str = "timestamp",
) -> int:
    """Delete rows older than `cutoff` in batches (at most `batch_size` rows per statement)."""
    size = batch_size or settings.PURGE_BATCH_SIZE
    table = model._meta.db_table
    moment = connection.ops.quote_name(column)
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


def retention_targets() -> list[tuple[str, type, str]]:
    """(label, model, time column) for every table retention applies to."""
    from django.apps import apps

    from apps.ingest.registry import all_kinds

    targets = [(kind.name, kind.model, "timestamp") for kind in all_kinds()]
    for kind, model_name, column in RETENTION_FOLLOWERS:
        model = apps.get_model(model_name)
        targets.append((f"{kind}:{model._meta.model_name}", model, column))
    return targets


def analytics_purge(*, dry_run: bool = False) -> dict[str, int]:
    """Apply every kind's retention. Returns rows deleted (or due) per table."""
    result = {}
    for label, model, column in retention_targets():
        cutoff = retention_cutoff(label.split(":")[0])
        if dry_run:
            result[label] = expired_count(model=model, cutoff=cutoff, column=column)
        else:
            result[label] = expired_purge(model=model, cutoff=cutoff, column=column)
    return result
