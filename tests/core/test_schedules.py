"""`setup_schedules`: the beat schedule in settings, mirrored into django-celery-beat."""

from io import StringIO

import pytest
from django.core.management import call_command
from django_celery_beat.models import IntervalSchedule, PeriodicTask

pytestmark = pytest.mark.django_db


def run(*args) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command(*args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def managed_tasks() -> list[tuple]:
    return list(
        PeriodicTask.objects.filter(name__startswith="analytics:")
        .order_by("name")
        .values_list("id", "name", "task", "enabled", "interval_id", "crontab_id")
    )


def test_setup_schedules_creates_one_task_per_entry(settings):
    out, _ = run("setup_schedules")
    assert f"{len(settings.PERIODIC_TASKS)} created" in out
    tasks = {t.name: t for t in PeriodicTask.objects.filter(name__startswith="analytics:")}
    assert set(tasks) == {f"analytics:{name}" for name in settings.PERIODIC_TASKS}
    sweep = tasks["analytics:sweep-outbox"]
    assert sweep.task == "ingest.sweep_outbox"
    assert sweep.interval.every == 30
    assert sweep.interval.period == IntervalSchedule.SECONDS
    assert sweep.crontab is None
    purge = tasks["analytics:purge-analytics"]
    assert purge.task == "ingest.purge_expired"
    assert (purge.crontab.minute, purge.crontab.hour) == ("30", "3")
    assert purge.interval is None


def test_setup_schedules_twice_is_idempotent():
    run("setup_schedules")
    first = managed_tasks()
    out, _ = run("setup_schedules")
    assert "0 created, 0 updated, 0 removed" in out
    assert managed_tasks() == first
    assert IntervalSchedule.objects.filter(every=30).count() == 1


def test_setup_schedules_removes_a_task_dropped_from_settings_and_keeps_foreign_ones(settings):
    run("setup_schedules")
    foreign = PeriodicTask.objects.create(
        name="someone-elses-job",
        task="other.job",
        interval=IntervalSchedule.objects.create(every=5, period=IntervalSchedule.MINUTES),
    )
    settings.PERIODIC_TASKS = {
        k: v for k, v in settings.PERIODIC_TASKS.items() if k != "purge-analytics"
    }
    out, _ = run("setup_schedules")
    assert "1 removed" in out
    names = [t[1] for t in managed_tasks()]
    assert names == sorted(f"analytics:{name}" for name in settings.PERIODIC_TASKS)
    assert "analytics:purge-analytics" not in names
    assert PeriodicTask.objects.filter(pk=foreign.pk).exists()


def test_setup_schedules_updates_a_changed_interval(settings):
    run("setup_schedules")
    settings.PERIODIC_TASKS = {
        **settings.PERIODIC_TASKS,
        "sweep-outbox": {"task": "ingest.sweep_outbox", "every_seconds": 45},
    }
    out, _ = run("setup_schedules")
    assert "0 created, 1 updated, 0 removed" in out
    assert PeriodicTask.objects.get(name="analytics:sweep-outbox").interval.every == 45
