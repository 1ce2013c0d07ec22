"""Project-wide services: the periodic schedules beat runs."""

import json

from django.conf import settings
from django.db import transaction
from django_celery_beat.models import CrontabSchedule, IntervalSchedule, PeriodicTask

MANAGED_PREFIX = "analytics:"


def schedules_sync() -> tuple[int, int, int]:
    """Make beat's table match settings.PERIODIC_TASKS: add, update, remove (ours only)."""
    created = updated = 0
    wanted = settings.PERIODIC_TASKS
    with transaction.atomic():
        for name, spec in wanted.items():
            defaults = {
                "task": spec["task"],
                "kwargs": json.dumps(spec.get("kwargs", {}), sort_keys=True),
                "enabled": True,
                "interval": None,
                "crontab": None,
            }
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
