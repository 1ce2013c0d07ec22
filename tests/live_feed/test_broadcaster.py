"""The broadcaster's loop in this process, against the real Redis: a failing feed, a
dead Redis, a clean stop; and the dashboard's ingest rate."""

import asyncio
import logging
import uuid

import pytest
from channels.layers import get_channel_layer

from apps.core.redis import get_redis
from apps.ingest.counters import counts_key
from apps.live.broadcaster import GROUP, Broadcaster, latest_key, lock_key
from apps.live.feeds import DashboardStats, Feed
from tests.live import free_port

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def own_keys(settings):
    """Keys and groups of this test alone: runs share the machine's Redis."""
    prefix = f"test:live:{uuid.uuid4().hex[:8]}"
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {"hosts": [settings.REDIS_URL], "prefix": prefix},
        }
    }
    yield
    get_redis().delete(lock_key(), latest_key("OK"), latest_key("BOOM"))


async def run_for(broadcaster: Broadcaster, seconds: float) -> list[dict]:
    """What a group member receives while the broadcaster runs `seconds`; then stops it."""
    layer = get_channel_layer()
    channel = await layer.new_channel()
    await layer.group_add(GROUP, channel)
    await broadcaster.start()
    received, loop = [], asyncio.get_running_loop()
    end = loop.time() + seconds
    while (left := end - loop.time()) > 0:
        try:
            received.append(await asyncio.wait_for(layer.receive(channel), left))
        except TimeoutError:
            break
    await broadcaster.stop()
    await layer.flush()
    return received


def test_a_failing_feed_is_logged_and_the_others_go_on(caplog):
    calls = {"BOOM": 0, "OK": 0}

    def boom() -> dict:
        calls["BOOM"] += 1
        raise RuntimeError("the database went away")

    def fine() -> dict:
        calls["OK"] += 1
        return {"n": calls["OK"]}

    broadcaster = Broadcaster([Feed("BOOM", 0.2, boom), Feed("OK", 0.2, fine)])
    with caplog.at_level(logging.ERROR, logger="apps.live.broadcaster"):
        received = asyncio.run(run_for(broadcaster, 1.5))

    assert calls["BOOM"] >= 4, "the failing feed was not tried again"
    texts = [message["text"] for message in received]
    assert len(texts) >= 4 and all('"type":"OK"' in text for text in texts)
    assert '"n":' in get_redis().get(latest_key("OK")).decode()  # what a new client gets
    assert get_redis().get(latest_key("BOOM")) is None
    assert "live feed BOOM: computing failed" in caplog.text
    assert "the database went away" in caplog.text


def test_stop_ends_the_loop_and_lets_the_lock_go():
    broadcaster = Broadcaster([Feed("OK", 0.2, lambda: {})])

    async def scenario() -> tuple[bool, set[str]]:
        await broadcaster.start()
        await asyncio.sleep(0.5)
        held = get_redis().get(lock_key()) == broadcaster.token.encode()
        await broadcaster.stop(timeout=5)
        left = {t.get_name() for t in asyncio.all_tasks() if t is not asyncio.current_task()}
        return held, left

    held, left = asyncio.run(scenario())
    assert held
    assert "live-broadcaster" not in left
    assert get_redis().get(lock_key()) is None  # the next process need not wait


def test_a_held_lock_keeps_a_second_broadcaster_quiet():
    first, second = (Broadcaster([Feed("OK", 0.2, lambda: {})]) for _ in range(2))

    async def scenario() -> list[dict]:
        await first.start()
        await asyncio.sleep(0.3)
        received = await run_for(second, 1)
        await first.stop()
        return received

    received = asyncio.run(scenario())
    assert first.holding is False  # let go at stop
    assert not second.holding
    assert received  # the first one's pushes, seen by the group
    tokens = {get_redis().get(lock_key())}
    assert tokens == {None}


def test_without_redis_the_loop_waits_and_still_stops(settings, caplog):
    settings.REDIS_URL = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    broadcaster = Broadcaster([Feed("OK", 0.2, lambda: {})])

    async def scenario() -> float:
        await broadcaster.start()
        await asyncio.sleep(1)
        loop = asyncio.get_running_loop()
        started = loop.time()
        await broadcaster.stop(timeout=5)
        return loop.time() - started

    with caplog.at_level(logging.WARNING, logger="apps.live.broadcaster"):
        stopped_in = asyncio.run(scenario())
    assert "Redis unavailable" in caplog.text
    assert not broadcaster.holding
    assert stopped_in < 5


def test_the_ingest_rate_is_items_per_second_between_two_pushes():
    now = [100.0]
    stats = DashboardStats(clock=lambda: now[0])
    redis = get_redis()
    redis.hincrby(counts_key(), "event:accepted", 1000)

    assert stats()["ingest_rate"] is None  # one reading is no rate
    redis.hincrby(counts_key(), "event:accepted", 300)
    redis.hincrby(counts_key(), "job_outcome:accepted", 200)
    redis.hincrby(counts_key(), "event:rejected", 10)
    now[0] += 5
    second = stats()
    assert (second["ingest_rate"], second["rejected_rate"]) == (100.0, 2.0)

    redis.delete(counts_key())  # Redis restarted: the counts start again from zero
    now[0] += 5
    assert stats()["ingest_rate"] is None
