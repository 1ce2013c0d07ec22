"""One broadcaster for every ASGI process: whoever holds the Redis lock computes the feeds
and pushes them; the others wait and take over when the lock expires.

The lock is renewed in the same Lua call that stores a message as the latest of its
type, so a process that lost the lock (paused, cut off) can never publish beside the new
holder. Each process starts one Broadcaster from the ASGI lifespan and stops it there.
"""

import asyncio
import logging
import time
from concurrent.futures import ThreadPoolExecutor

import redis.asyncio as aioredis
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import close_old_connections, connections
from redis import RedisError

from apps.core.redis import LOCK_HOLD_LUA, LOCK_RELEASE_LUA, lock_token, redis_key

from .feeds import Feed, default_feeds

logger = logging.getLogger(__name__)

GROUP = "analytics.live"

# KEYS: lock, latest. ARGV: token, lock ms, message, latest ms. Stored only by the holder.
_PUBLISH = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
redis.call('SET', KEYS[2], ARGV[3], 'PX', ARGV[4])
return 1
"""


def lock_key() -> str:
    # In the deployment's namespace, like the channel layer's prefix: each deployment on
    # a shared Redis server has its own broadcaster and its own feed.
    return redis_key("live", "broadcaster")


def latest_key(feed_type: str) -> str:
    return redis_key("live", "latest", feed_type)


def redis_client() -> aioredis.Redis:
    return aioredis.Redis.from_url(
        settings.REDIS_URL, socket_connect_timeout=1, socket_timeout=2, decode_responses=True
    )


class Broadcaster:
    def __init__(self, feeds: list[Feed] | None = None):
        self.feeds = feeds if feeds is not None else default_feeds()
        shortest = min(feed.seconds for feed in self.feeds)
        # Checked twice per shortest interval; a dead holder is replaced within 3 of them.
        self.tick = min(1.0, shortest / 2)
        self.lock_ms = int(shortest * 3 * 1000)
        self.token = lock_token()
        self.holding = False
        self._due: dict[str, float] = {}
        self._stopping = asyncio.Event()
        self._task: asyncio.Task | None = None
        self._redis: aioredis.Redis | None = None
        # Feeds query the database: one thread of their own keeps one connection.
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="live-feed")

    # --- start and stop, from the lifespan
    async def start(self) -> None:
        self._redis = redis_client()
        self._task = asyncio.create_task(self._run(), name="live-broadcaster")

    async def stop(self, timeout: float = 5.0) -> None:
        """Stop within `timeout` s: the loop ends, the lock is let go for the next holder."""
        self._stopping.set()
        if self._task is not None:
            try:
                await asyncio.wait_for(self._task, timeout)
            except (TimeoutError, asyncio.CancelledError):
                logger.warning("live broadcaster did not stop in %.0f s; cancelled", timeout)
        if self._redis is not None:
            if self.holding:
                try:
                    await self._redis.eval(LOCK_RELEASE_LUA, 1, lock_key(), self.token)
                except (RedisError, OSError):
                    logger.warning("live broadcaster could not release its lock; it expires")
                self.holding = False
            await self._redis.aclose()
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._executor, connections.close_all)
        self._executor.shutdown(wait=False)

    # --- the loop
    async def _run(self) -> None:
        logger.info("live broadcaster %s started", self.token)
        while not self._stopping.is_set():
            try:
                await self._round()
            except Exception:  # a bad round must not end the feed
                logger.exception("live broadcast round failed")
            try:
                await asyncio.wait_for(self._stopping.wait(), self.tick)
            except TimeoutError:
                pass
        logger.info("live broadcaster %s stopped", self.token)

    async def _round(self) -> None:
        try:
            held = bool(
                await self._redis.eval(LOCK_HOLD_LUA, 1, lock_key(), self.token, self.lock_ms)
            )
        except (RedisError, OSError) as exc:
            held = False
            logger.warning("live broadcaster: Redis unavailable (%s)", exc)
        if held != self.holding:
            logger.info("live broadcaster %s %s the lock", self.token, "took" if held else "lost")
            self.holding = held
            self._due.clear()  # a new holder pushes everything at once
        if not held:
            return
        now = time.monotonic()
        for feed in self.feeds:
            if self._stopping.is_set():
                return
            if now >= self._due.get(feed.type, 0.0):
                self._due[feed.type] = now + feed.seconds
                await self._push(feed)

    async def _push(self, feed: Feed) -> None:
        loop = asyncio.get_running_loop()
        try:
            message = await loop.run_in_executor(self._executor, _compute, feed)
        except Exception:
            logger.exception(
                "live feed %s: computing failed; next in %.0f s", feed.type, feed.seconds
            )
            return
        stored = await self._redis.eval(
            _PUBLISH,
            2,
            lock_key(),
            latest_key(feed.type),
            self.token,
            self.lock_ms,
            message,
            int(feed.seconds * 3 * 1000),
        )
        if not stored:  # lost the lock while computing: the new holder pushes
            self.holding = False
            return
        await get_channel_layer().group_send(GROUP, {"type": "feed.message", "text": message})


def _compute(feed: Feed) -> str:
    close_old_connections()  # a connection the database dropped is replaced, not reused
    return feed.message()
