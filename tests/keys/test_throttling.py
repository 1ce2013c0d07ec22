"""Rate limits (sliding log in Redis) and what bad keys cost: real Redis and PostgreSQL."""

import logging
import math
import random
import socket
import time

import pytest
import time_machine
from rest_framework.test import APIClient

import bench.stack
from apps.core.redis import get_redis
from apps.keys import throttling
from apps.keys.services import api_key_create, api_key_revoke
from tests.helpers import post_json
from tests.keys.conftest import FakeClock

pytestmark = pytest.mark.django_db

READ = "/api/v1/metrics/job-outcomes"
WRITE = "/api/v1/analytics/job-outcome"
ITEM = {"job_type": "backup", "status": "success"}
# A minute edge a little ahead, so items timestamped "now" stay valid.
EDGE = (math.floor(time.time() / 60) + 2) * 60.0


def bad_key(n: int = 0) -> str:
    """Well-formed (`<8>.<32>`, letters and digits) but not a key anyone holds."""
    return f"bad{n:05d}.{'x' * 32}"


def key_client(scope: str, **extra) -> APIClient:
    client = APIClient(**extra)
    client.credentials(HTTP_X_API_KEY=api_key_create(name=f"k-{scope}", scope=scope)[1])
    return client


@pytest.fixture
def rates(monkeypatch):
    def set_rates(ingest: str = "6000/min", read: str = "1200/min") -> None:
        monkeypatch.setattr(
            throttling.KeyRateThrottle, "THROTTLE_RATES", {"ingest": ingest, "read": read}
        )

    return set_rates


# --- per-key limits ---------------------------------------------------------


def test_a_burst_straddling_the_minute_edge_cannot_exceed_the_rate(rates):
    rates(ingest="10/min")
    client = key_client("ingest")

    with time_machine.travel(EDGE - 0.5, tick=False) as traveller:
        before = [post_json(client, WRITE, ITEM).status_code for _ in range(10)]
        traveller.move_to(EDGE + 0.5)  # a fixed window would start counting afresh here
        after = [post_json(client, WRITE, ITEM).status_code for _ in range(10)]
        traveller.move_to(EDGE + 59.4)
        still = post_json(client, WRITE, ITEM).status_code
        traveller.move_to(EDGE + 59.5)  # a full minute after the burst
        again = post_json(client, WRITE, ITEM).status_code

    assert before == [202] * 10
    assert after == [429] * 10
    assert still == 429
    assert again == 202


def test_retry_after_says_when_the_next_request_will_pass(rates):
    rates(read="3/min")
    client = key_client("read")

    with time_machine.travel(EDGE, tick=False) as traveller:
        for offset in (0, 20, 40):
            traveller.move_to(EDGE + offset)
            assert client.get(READ).status_code == 200
        traveller.move_to(EDGE + 50)
        refused = client.get(READ)
        traveller.move_to(EDGE + 59.5)
        last_second = client.get(READ)
        traveller.move_to(EDGE + 60)  # the request at EDGE has left the window
        freed = client.get(READ)
        full_again = client.get(READ)

    assert refused.status_code == 429
    assert refused["Retry-After"] == "10"
    assert refused.json() == {
        "error": "throttled",
        "detail": "Request was throttled. Expected available in 10 seconds.",
    }
    assert last_second.status_code == 429
    assert last_second["Retry-After"] == "1"  # half a second rounds up, never 0
    assert freed.status_code == 200
    assert full_again.status_code == 429
    assert full_again["Retry-After"] == "20"  # the EDGE + 20 request leaves next


def test_no_window_of_the_period_ever_admits_more_than_the_limit():
    limit, period = 5, 10
    rng = random.Random(7)
    times = sorted(EDGE + rng.uniform(0, 120) for _ in range(300))
    admitted: list[float] = []
    decisions, expected = [], []

    with time_machine.travel(times[0], tick=False) as traveller:
        for moment in times:
            traveller.move_to(moment)
            now = time.time()  # what hit() sees
            in_window = sum(1 for t in admitted if t > now - period)
            expected.append(in_window < limit)
            decisions.append(throttling.hit("prop", limit, period) == 0)
            if decisions[-1]:
                admitted.append(now)

    assert decisions == expected  # exactly a sliding log: never more, never needlessly less
    assert max(sum(1 for t in admitted if s - period < t <= s) for s in admitted) == limit


def test_limits_are_per_key(rates):
    rates(read="2/min")
    first, second = key_client("read"), key_client("read")

    codes = [first.get(READ).status_code for _ in range(3)]

    assert codes == [200, 200, 429]
    assert second.get(READ).status_code == 200


# --- failed authentications per client IP -----------------------------------


def test_bad_keys_from_one_ip_get_429_before_any_database_lookup(
    settings, django_assert_num_queries
):
    settings.THROTTLE_RATE_AUTH_FAILURES = "3/min"
    client = APIClient()

    with time_machine.travel(EDGE, tick=False) as traveller:
        with django_assert_num_queries(3):
            codes = [client.get(READ, HTTP_X_API_KEY=bad_key(n)).status_code for n in range(3)]
        with django_assert_num_queries(0):
            blocked = client.get(READ, HTTP_X_API_KEY=bad_key(99))
            malformed = client.get(READ, HTTP_X_API_KEY="nope")
        other_ip = client.get(READ, HTTP_X_API_KEY=bad_key(5), REMOTE_ADDR="203.0.113.9")
        traveller.move_to(EDGE + 60)
        later = client.get(READ, HTTP_X_API_KEY=bad_key(6))

    assert codes == [401, 401, 401]
    assert blocked.status_code == 429
    assert blocked["Retry-After"] == "60"
    assert blocked.json()["error"] == "throttled"
    assert blocked.json()["detail"].startswith("Too many requests with an invalid API key")
    assert malformed.status_code == 429
    assert other_ip.status_code == 401  # counted per address
    assert later.status_code == 401


def test_a_blocked_ip_keeps_a_known_valid_key_but_not_a_new_one(settings, auth_clock):
    settings.THROTTLE_RATE_AUTH_FAILURES = "2/min"
    known = key_client("read")
    not_yet_seen = key_client("read")
    assert known.get(READ).status_code == 200

    with time_machine.travel(EDGE, tick=False) as traveller:
        for n in range(3):
            APIClient().get(READ, HTTP_X_API_KEY=bad_key(n))
        served = known.get(READ)
        auth_clock.advance(10)  # its cache entry expired: checked in the database again
        still_served = known.get(READ)
        refused = not_yet_seen.get(READ)  # cannot tell it from a guess without the database
        traveller.move_to(EDGE + 60)
        unblocked = not_yet_seen.get(READ)

    assert served.status_code == 200
    assert still_served.status_code == 200
    assert refused.status_code == 429
    assert unblocked.status_code == 200


def test_forwarded_for_counts_only_behind_a_trusted_proxy(settings):
    settings.THROTTLE_RATE_AUTH_FAILURES = "2/min"
    client = APIClient()

    def attempt(forwarded: str) -> int:
        return client.get(
            READ, HTTP_X_API_KEY=bad_key(), HTTP_X_FORWARDED_FOR=forwarded
        ).status_code

    settings.TRUST_X_FORWARDED_FOR = False
    untrusted = [attempt(f"198.51.100.{n}") for n in range(3)]  # a client choosing "its" IP
    settings.TRUST_X_FORWARDED_FOR = True
    spoofed_first = [attempt(f"198.51.100.{n}, 192.0.2.1") for n in range(3)]
    proxy_saw_other = attempt("198.51.100.1, 192.0.2.2")

    assert untrusted == [401, 401, 429]
    assert spoofed_first == [401, 401, 429]  # the proxy's (last) entry counts
    assert proxy_saw_other == 401


def test_ipv6_clients_are_counted_per_64(settings):
    settings.THROTTLE_RATE_AUTH_FAILURES = "2/min"
    client = APIClient()

    codes = [
        client.get(READ, HTTP_X_API_KEY=bad_key(), REMOTE_ADDR=f"2001:db8:1:2::{n}").status_code
        for n in range(1, 4)
    ]
    neighbour = client.get(READ, HTTP_X_API_KEY=bad_key(), REMOTE_ADDR="2001:db8:1:3::1")

    assert codes == [401, 401, 429]
    assert neighbour.status_code == 401


# --- the key lookup: bad keys cached briefly, good keys revoked fast ----------


def test_a_flood_of_one_bad_key_costs_one_query_every_few_seconds(
    settings, auth_clock, django_assert_num_queries
):
    settings.THROTTLE_RATE_AUTH_FAILURES = "1000/min"
    client = APIClient()

    with django_assert_num_queries(1):
        codes = {client.get(READ, HTTP_X_API_KEY=bad_key()).status_code for _ in range(50)}
    auth_clock.advance(5)
    with django_assert_num_queries(1):  # looked up again: a bad key is not refused for long
        assert client.get(READ, HTTP_X_API_KEY=bad_key()).status_code == 401

    assert codes == {401}


@pytest.mark.parametrize(
    "raw",
    [
        "abc.def",
        "x" * 41,
        f"bad0000.{'x' * 33}",
        f"bad-0000.{'x' * 32}",
        f"bad00000.{'x' * 31}!",
        "x" * 5000,
    ],
)
def test_malformed_keys_never_reach_the_database(raw, django_assert_num_queries):
    with django_assert_num_queries(0):
        response = APIClient().get(READ, HTTP_AUTHORIZATION=f"Bearer {raw}")

    assert response.status_code == 401
    assert response.json()["error"] == "not_authenticated"


def test_the_refused_key_cache_is_bounded(monkeypatch, settings, django_assert_num_queries):
    from apps.keys import authentication

    monkeypatch.setattr(authentication, "_INVALID_CACHE_SIZE", 3)
    settings.THROTTLE_RATE_AUTH_FAILURES = "1000/min"
    client = APIClient()
    for n in range(4):
        client.get(READ, HTTP_X_API_KEY=bad_key(n))

    assert len(authentication._invalid_keys) == 3
    with django_assert_num_queries(0):  # the newest are still remembered
        client.get(READ, HTTP_X_API_KEY=bad_key(3))
    with django_assert_num_queries(1):  # the oldest made room
        client.get(READ, HTTP_X_API_KEY=bad_key(0))


def test_a_revoked_key_stops_working_once_its_cache_entry_expires(auth_clock):
    key, plain = api_key_create(name="leaked", scope="read")
    client = APIClient()
    client.credentials(HTTP_X_API_KEY=plain)
    assert client.get(READ).status_code == 200

    api_key_revoke(key=key)
    auth_clock.advance(4.9)
    within_cache = client.get(READ).status_code
    auth_clock.advance(0.1)
    after = client.get(READ)

    assert within_cache == 200  # the documented grace: at most _CACHE_SECONDS
    assert after.status_code == 401


# --- Redis: one command per request, and failing open --------------------------


class PrivateRedis:
    """A redis-server of the test's own; started again after kill(), on the same port."""

    def __init__(self, tmp_path) -> None:
        self.stack = bench.stack.Stack(tmp_path, database_url="")  # redis only: no database
        self.port = self.stack.redis_port

    def start(self) -> None:
        self.stack.start_redis()

    def kill(self) -> None:
        self.stack.stop_redis()


@pytest.fixture
def private_redis(settings, tmp_path):
    server = PrivateRedis(tmp_path)
    server.start()
    shared = settings.REDIS_URL
    settings.REDIS_URL = f"redis://127.0.0.1:{server.port}/0"
    get_redis.cache_clear()
    try:
        yield server
    finally:
        server.kill()
        # Back to the shared Redis now: later teardowns (key cleanup) use it.
        settings.REDIS_URL = shared
        get_redis.cache_clear()


@pytest.mark.timeout(30)
def test_a_request_costs_one_redis_command(private_redis):
    client = key_client("read")
    assert client.get(READ).status_code == 200  # loads the script, caches the key

    before = get_redis().info("commandstats")
    assert client.get(READ).status_code == 200
    after = get_redis().info("commandstats")
    calls = {
        name.removeprefix("cmdstat_"): stats["calls"] - before.get(name, {"calls": 0})["calls"]
        for name, stats in after.items()
        if name != "cmdstat_info"
    }

    # One EVALSHA for the rate; the rest ran inside the script, on the server. A read
    # also holds one of its key's concurrent-read slots (apps/core/readcost.py): one
    # EVALSHA to take it, one ZREM to give it back.
    assert {name: n for name, n in calls.items() if n} == {
        "evalsha": 2,
        "zremrangebyscore": 2,
        "zcard": 2,
        "zadd": 2,
        "pexpire": 2,
        "zrem": 1,
    }


@pytest.mark.timeout(30)
def test_redis_down_lets_requests_through_and_limits_resume_after(
    private_redis, rates, caplog, monkeypatch
):
    rates(read="2/min")
    pause_clock = FakeClock()
    monkeypatch.setattr(throttling, "_clock", pause_clock)
    client = key_client("read")
    assert [client.get(READ).status_code for _ in range(3)] == [200, 200, 429]

    private_redis.kill()
    with caplog.at_level(logging.WARNING, logger="apps.keys.throttling"):
        while_down = [client.get(READ).status_code for _ in range(5)]
        bad = APIClient().get(READ, HTTP_X_API_KEY=bad_key()).status_code
    warnings = [r.getMessage() for r in caplog.records if r.name == "apps.keys.throttling"]

    private_redis.start()  # same port, empty
    pause_clock.advance(throttling.REDIS_RETRY_SECONDS)
    after = [client.get(READ).status_code for _ in range(3)]

    assert while_down == [200] * 5
    assert bad == 401  # the failure budget fails open too; the key is still checked
    assert len(warnings) == 1  # one line per outage, not one per request
    assert "allowing requests" in warnings[0]
    assert after == [200, 200, 429]


@pytest.mark.timeout(30)
def test_an_unresponsive_redis_costs_one_timeout_not_one_per_request(settings, rates):
    rates(read="2/min")
    client = key_client("read")
    shared = settings.REDIS_URL
    with socket.socket() as silent:  # accepts connections, never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)
        settings.REDIS_URL = f"redis://127.0.0.1:{silent.getsockname()[1]}/0"
        get_redis.cache_clear()
        try:
            started = time.monotonic()
            codes = [client.get(READ).status_code for _ in range(5)]
            elapsed = time.monotonic() - started
        finally:
            settings.REDIS_URL = shared
            get_redis.cache_clear()

    assert codes == [200] * 5
    # The client's 1 s socket timeout once, then Redis is skipped for a second
    # (without the pause: five timeouts, over 5 s).
    assert elapsed < 3
