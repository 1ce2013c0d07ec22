"""One read key cannot stall the real web server (the Procfile's gunicorn): eight reads
of one key at once, each stuck in the database, and health still answers; the key's
reads beyond API_READS_PER_KEY get 429 at once, the stuck ones 503 read_too_costly
when the statement timeout stops them."""

import json
import threading
import time
import urllib.error
import urllib.request

import pytest
import redis

from apps.events.models import Event
from apps.keys.models import APIKey
from apps.keys.services import api_key_create
from tests.core.test_read_cost import table_locked
from tests.live import Stack, wait_until

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True), pytest.mark.timeout(120)]

ACTIVE = "/api/v1/analytics/users/active?days=365"
HEALTH = "/api/v1/analytics/health"


def get(url: str, key: str | None = None, timeout: float = 30) -> tuple[int, dict, dict]:
    request = urllib.request.Request(url, headers={"X-API-Key": key} if key else {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, dict(response.headers), json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), json.loads(error.read())


def test_eight_stuck_reads_of_one_key_leave_health_answering(tmp_path):
    stack = Stack(tmp_path)
    try:
        stack.start_redis()
        stack.overrides.update(API_READS_PER_KEY="2", API_READ_STATEMENT_TIMEOUT_MS="4000")
        base = stack.start_web(workers=2)
        raw_key = api_key_create(name="attacker", scope="read")[1]
        slots = stack.redis_key("readslots", f"key:{APIKey.objects.get().pk}")
        client = redis.Redis(port=stack.redis_port)
        assert get(base + ACTIVE, raw_key)[0] == 200  # warm: the key is known

        answers: list[tuple[int, dict, dict]] = []
        with table_locked(Event):  # every read of events now waits in PostgreSQL
            readers = [
                threading.Thread(target=lambda: answers.append(get(base + ACTIVE, raw_key)))
                for _ in range(8)
            ]
            for reader in readers:
                reader.start()
            wait_until(lambda: client.zcard(slots) == 2, timeout=20, what="two reads running")
            started = time.monotonic()
            health = get(base + HEALTH, timeout=10)
            health_seconds = time.monotonic() - started
            for reader in readers:
                reader.join(timeout=30)
        after = get(base + ACTIVE, raw_key)

        assert health[0] == 200 and health[2]["status"] in ("healthy", "degraded")
        assert health_seconds < 3  # answered while both reads were still stuck (4 s)
        refused = [a for a in answers if a[0] == 429]
        stopped = [a for a in answers if a[0] == 503]
        # Two ran (stopped by the timeout); the rest waited for a slot, then were refused,
        # or ran once the first two were stopped (and were stopped in turn).
        statuses = [(a[0], a[2]) for a in answers]
        assert len(refused) + len(stopped) == 8 and len(refused) >= 2, statuses
        assert len(stopped) >= 2, statuses
        assert all(a[1]["Retry-After"] == "1" for a in refused)
        assert all(a[2]["error"] == "read_too_costly" for a in stopped)
        assert after[0] == 200
        assert client.zcard(slots) == 0  # every slot given back
    finally:
        stack.close()


def test_reads_beyond_the_read_threads_wait_in_the_worker_and_health_has_a_thread(tmp_path):
    """One gunicorn process of two threads: one API read may run at a time. Three stuck
    reads of three keys: one runs, two wait without a thread (none refused), and health,
    sent meanwhile, is answered by the thread kept free."""
    stack = Stack(tmp_path)
    try:
        stack.start_redis()
        stack.overrides.update(WEB_THREADS="2", API_READ_STATEMENT_TIMEOUT_MS="20000")
        base = stack.start_web(workers=1)
        keys = [api_key_create(name=f"reader{i}", scope="read")[1] for i in range(3)]
        for key in keys:
            assert get(base + ACTIVE, key)[0] == 200  # warm: each key is known

        answers: list[tuple[int, dict, dict]] = []
        with table_locked(Event, release_after=3.0):
            readers = [
                threading.Thread(target=lambda k=key: answers.append(get(base + ACTIVE, k)))
                for key in keys
            ]
            for reader in readers:
                reader.start()
            time.sleep(0.5)  # the three reads have arrived; one runs, stuck on the lock
            health = get(base + HEALTH, timeout=10)
            health_done = len(answers)  # reads answered by the time health was
            for reader in readers:
                reader.join(timeout=30)

        assert health[0] == 200 and health[2]["status"] in ("healthy", "degraded")
        assert health_done == 0  # health did not wait for the stuck read
        assert [a[0] for a in answers] == [200, 200, 200], [(a[0], a[2]) for a in answers]
    finally:
        stack.close()
