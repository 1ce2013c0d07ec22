"""Publish beat's entries the way beat does, from a stack's processes; read how they ran."""

import re

import pytest

from apps.core.services import MANAGED_PREFIX
from tests.live import Stack

# Beat's own publishing path: its scheduler class, its entries built from the database
# rows, `apply_async` as `tick` calls it (queue, expires and the `periodic_task_name`
# header come from the row). Every row: all_as_schedule leaves out crontab rows not
# due this hour.
SEND_AS_BEAT = """
from analytics_project.celery import app
from celery.utils.imports import symbol_by_name
from django.conf import settings
from django_celery_beat.models import PeriodicTask
scheduler = symbol_by_name(settings.CELERY_BEAT_SCHEDULER)(app=app, lazy=True)
rows = PeriodicTask.objects.filter(enabled=True, name__startswith={prefix!r})
if {only!r}:
    rows = rows.filter(name__in=[{prefix!r} + name for name in {only!r}])
for row in rows.order_by("name"):
    entry = scheduler.Entry(row, app=app)
    result = scheduler.apply_async(entry, advance=False)
    print("SENT", row.name.removeprefix({prefix!r}), entry.task, result.id)
"""


def send_as_beat(stack: Stack, *only: str) -> list[tuple[str, str, str]]:
    """(entry, task, task id) of each of beat's entries sent (`only` these, if named)."""
    sent = stack.manage_ok("shell", "-c", SEND_AS_BEAT.format(prefix=MANAGED_PREFIX, only=only))
    return [tuple(line.split()[1:]) for line in sent.splitlines() if line.startswith("SENT ")]


def outcome(log: str, task: str, task_id: str) -> str | None:
    """The worker's word on one task: 'succeeded', 'raised ...', or None while it runs."""
    found = re.search(rf"Task {re.escape(task)}\[{task_id}\] (succeeded|raised.*|retry.*)", log)
    return found[1] if found else None


@pytest.fixture
def stack(tmp_path):
    """A stack with a private redis-server; the test starts the processes it needs."""
    stack = Stack(tmp_path)
    stack.start_redis()
    yield stack
    stack.close()
