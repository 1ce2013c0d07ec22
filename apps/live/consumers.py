"""The live feed's WebSocket: /ws/analytics/. Pushes only: the few frames a client sends
are ignored, a client that keeps sending is closed."""

import time

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from redis import RedisError

from .broadcaster import GROUP, latest_key, redis_client
from .credentials import credential_for, still_allowed
from .feeds import ADVANCED, DASHBOARD

REFUSED = 4403  # before accept, the server answers the handshake 403
POLICY_VIOLATION = 1008
# The feed takes no input, but some client libraries send a heartbeat message of their
# own (protocol pings are not frames here and cost nothing): a burst of 10 frames, then
# one every 6 s. One client sent 342,000 frames in 3 s, each read and dropped; it is now
# closed at its 11th.
FRAME_BURST = 10
FRAME_REFILL_SECONDS = 6.0
NO_INPUT = "the live feed takes no input"


async def latest_messages() -> list[str]:
    """The latest push of each type, for a client that just came (none after a restart)."""
    client = redis_client()
    try:
        found = await client.mget([latest_key(ADVANCED), latest_key(DASHBOARD)])
    except (RedisError, OSError):
        return []
    finally:
        await client.aclose()
    return [message for message in found if message]


class LiveFeedConsumer(AsyncWebsocketConsumer):
    credential = None
    closing = False  # closed by us: nothing more is sent, nothing more is counted

    async def connect(self) -> None:
        self.credential = await database_sync_to_async(credential_for)(self.scope)
        if self.credential is None:
            await self.close(code=REFUSED)
            return
        self.checked_at = time.monotonic()
        self.caught_up: set[str] = set()
        self.frame_allowance = float(FRAME_BURST)
        self.frames_counted_at = time.monotonic()
        await self.channel_layer.group_add(GROUP, self.channel_name)
        await self.accept()
        # A push stored as latest just before the client joined may also come as a group
        # message: it is sent once.
        latest = await latest_messages()  # in the feeds' order
        self.caught_up.update(latest)
        for message in latest:
            await self.send(text_data=message)

    async def feed_message(self, event: dict) -> None:
        if self.closing:  # a push that came between our close and the disconnect
            return
        if time.monotonic() - self.checked_at >= settings.LIVE_RECHECK_SECONDS:
            self.checked_at = time.monotonic()
            if not await database_sync_to_async(still_allowed)(self.credential):
                self.closing = True
                await self.close(code=REFUSED)
                return
        if event["text"] in self.caught_up:
            self.caught_up.discard(event["text"])
            return
        self.caught_up.clear()
        await self.send(text_data=event["text"])

    async def receive(self, text_data=None, bytes_data=None) -> None:
        # One way: the feed takes no commands. A token bucket bounds what is read for
        # nothing; frames still queued after the close are dropped.
        if self.closing:
            return
        now = time.monotonic()
        self.frame_allowance = min(
            FRAME_BURST,
            self.frame_allowance + (now - self.frames_counted_at) / FRAME_REFILL_SECONDS,
        )
        self.frames_counted_at = now
        if self.frame_allowance < 1:
            self.closing = True
            await self.close(code=POLICY_VIOLATION, reason=NO_INPUT)
            return
        self.frame_allowance -= 1

    async def disconnect(self, code: int) -> None:
        if self.credential is not None:
            await self.channel_layer.group_discard(GROUP, self.channel_name)


class NotFoundConsumer(AsyncWebsocketConsumer):
    """Any other path: refused at the handshake rather than an error in the log."""

    async def connect(self) -> None:
        await self.close(code=4404)
