"""Two beats of one deployment, as when a second host is given the beat role by mistake:
only the one holding the beat lock sends the schedule; the other stands by and takes
over when the first is cut off (paused: its lock expires) or killed (at once on the same
host); a beat that comes back finds the lock held and sends nothing."""

import os
import signal
import time

import pytest

from tests.live import Stack, wait_until

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True), pytest.mark.timeout(180)]

LOCK_SECONDS = 12
SENT = "Sending due task"
LEADS = "it sends the schedule"
STANDS_BY = "this one stands by"


@pytest.fixture
def stack(tmp_path, monkeypatch):
    monkeypatch.setitem(os.environ, "MONITORING_HEARTBEAT_SECONDS", "1")
    monkeypatch.setitem(os.environ, "BEAT_LOCK_SECONDS", str(LOCK_SECONDS))
    stack = Stack(tmp_path)
    try:
        stack.start_redis()
        stack.manage_ok("setup_schedules")
        yield stack
    finally:
        for name in ("a", "b"):
            if name in stack.procs and stack.procs[name].poll() is None:
                os.kill(stack.procs[name].pid, signal.SIGCONT)  # a paused one can stop
        stack.close()


def count(stack: Stack, name: str, marker: str) -> int:
    return stack.log(name, chars=1_000_000).count(marker)


def test_one_beat_sends_the_schedule_and_another_takes_over(stack):
    stack.start_beat("a")
    wait_until(lambda: count(stack, "a", SENT), timeout=30, what="a's first tasks")
    assert count(stack, "a", LEADS) == 1
    stack.start_beat("b")
    wait_until(lambda: count(stack, "b", STANDS_BY), timeout=30, what="b standing by")
    time.sleep(3)
    assert count(stack, "b", SENT) == 0, stack.tail("b")

    # a cut off (paused): b waits for a's lock to expire, then sends the schedule.
    os.kill(stack.procs["a"].pid, signal.SIGSTOP)
    paused = time.monotonic()
    wait_until(lambda: count(stack, "b", LEADS), timeout=LOCK_SECONDS + 10, what="b takes over")
    assert time.monotonic() - paused >= LOCK_SECONDS - 2  # not before the lock expired
    wait_until(lambda: count(stack, "b", SENT), timeout=30, what="b's tasks")

    # a back: it finds b's lock and sends nothing more.
    sent_by_a = count(stack, "a", SENT)
    os.kill(stack.procs["a"].pid, signal.SIGCONT)
    wait_until(lambda: count(stack, "a", STANDS_BY), timeout=10, what="a standing by")
    time.sleep(3)
    assert count(stack, "a", SENT) == sent_by_a, stack.tail("a")

    # b killed on this host: a takes the schedule back at once, not a lock's life later.
    stack.kill("b")
    killed = time.monotonic()
    wait_until(lambda: count(stack, "a", LEADS) == 2, timeout=LOCK_SECONDS, what="a again")
    assert time.monotonic() - killed < LOCK_SECONDS / 2
    wait_until(lambda: count(stack, "a", SENT) > sent_by_a, timeout=30, what="a's tasks")
