"""Every periodic task as beat sends it, through a real worker; the sweeper as `make run`
runs it.

The outbox sweeper crashed every 30 s (a misspelt setting) while every test passed,
because each test called it with `stale_seconds` of its own. Here nothing is passed
that beat would not pass: the schedule is the one `make run` installs
(`setup_schedules`, with the built-in rules and checks beside it), and each entry is
published by beat's own scheduler class from the database rows.
"""

import time

import pytest
from django.conf import settings

from apps.events.models import Event
from apps.ingest import outbox
from apps.ingest.models import OutboxBatch
from tests.beat import outcome, send_as_beat, stack
from tests.helpers import new_id
from tests.live import wait_until

__all__ = ["stack"]  # the fixture, from tests/beat.py

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True), pytest.mark.timeout(180)]

# What `make migrate` runs after `migrate`: the schedules and what the periodic tasks read.
MAKE_RUN_SETUP = ("setup_schedules", "install_alert_rules", "install_monitoring_checks")


def test_every_periodic_task_runs_as_beat_sends_it(stack):
    for command in MAKE_RUN_SETUP:
        stack.manage_ok(command)
    stack.start_worker()

    runs = send_as_beat(stack)
    assert sorted(name for name, _, _ in runs) == sorted(settings.PERIODIC_TASKS)

    def all_done():
        log = stack.log("worker", chars=1_000_000)
        return all(outcome(log, task, task_id) for _, task, task_id in runs)

    wait_until(all_done, timeout=120, interval=0.5, what="every periodic task to finish")
    log = stack.log("worker", chars=1_000_000)
    failed = {
        name: outcome(log, task, task_id)
        for name, task, task_id in runs
        if outcome(log, task, task_id) != "succeeded"
    }
    assert not failed, f"periodic tasks failed as beat sends them: {failed}\n{stack.tail('worker')}"


def test_a_batch_whose_task_was_lost_is_stored_by_beats_sweeper(stack, monkeypatch):
    # A process that committed a batch and died before telling the broker (a killed web
    # worker, `manage.py shell`, a lost message): nothing but beat's sweeper can save it.
    stale, sweep = 2, 2
    monkeypatch.setenv("INGEST_OUTBOX_STALE_SECONDS", str(stale))
    monkeypatch.setenv("INGEST_OUTBOX_SWEEP_SECONDS", str(sweep))
    stack.manage_ok("setup_schedules")
    stack.start_honcho()  # web, worker, beat and live: the Procfile, as `make run` starts it

    monkeypatch.setattr(outbox, "_publish", lambda: None)  # the broker message is lost
    event_id = new_id()
    outbox.outbox_write(batches=_validated_event(event_id))
    assert OutboxBatch.objects.count() == 1
    committed = time.monotonic()

    # The test does nothing more: beat, the worker and the sweeper's schedule do it all.
    wait_until(
        lambda: Event.objects.filter(event_id=event_id).exists(),
        timeout=stale + sweep + 15,  # + a worker's and beat's own latency
        interval=0.2,
        what=f"beat's sweeper to store the batch\n{stack.tail('honcho')}",
    )
    assert time.monotonic() - committed < stale + sweep + 15
    assert not OutboxBatch.objects.exists()
    assert "raised" not in stack.log("honcho", chars=1_000_000)


def _validated_event(event_id: str) -> dict[str, list[dict]]:
    """One event as the pipeline commits it (validated, defaults filled in)."""
    from apps import analytics
    from apps.ingest.buffer import buffer

    buffer.take()
    assert analytics.emit_event("sweeper_probe", user_id="u1", event_id=event_id)
    return buffer.take()
