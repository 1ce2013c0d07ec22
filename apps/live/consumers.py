"""The live feed's WebSocket: /ws/analytics/. Pushes only; what a client sends is ignored."""

import time

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from redis import RedisError

from .broadcaster import GROUP, latest_key, redis_client
from .credentials import credential_for, still_allowed
from .feeds import ADVANCED, DASHBOARD

REFUSED = 4403  # before accept, the server answers the handshake 403


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

    async def connect(self) -> None:
        self.credential = await database_sync_to_async(credential_for)(self.scope)
        if self.credential is None:
            await self.close(code=REFUSED)
            return
        self.checked_at = time.monotonic()
        self.caught_up: set[str] = set()
        await self.channel_layer.group_add(GROUP, self.channel_name)
        await self.accept()
        # A push stored as latest just before the client joined may also come as a group
        # message: it is sent once.
        latest = await latest_messages()  # in the feeds' order
        self.caught_up.update(latest)
        for message in latest:
            await self.send(text_data=message)

    async def feed_message(self, event: dict) -> None:
        if time.monotonic() - self.checked_at >= settings.LIVE_RECHECK_SECONDS:
            self.checked_at = time.monotonic()
            if not await database_sync_to_async(still_allowed)(self.credential):
                await self.close(code=REFUSED)
                return
        if event["text"] in self.caught_up:
            self.caught_up.discard(event["text"])
            return
        self.caught_up.clear()
        await self.send(text_data=event["text"])

    async def receive(self, text_data=None, bytes_data=None) -> None:
        pass  # one way: the feed takes no commands

    async def disconnect(self, code: int) -> None:
        if self.credential is not None:
            await self.channel_layer.group_discard(GROUP, self.channel_name)


class NotFoundConsumer(AsyncWebsocketConsumer):
    """Any other path: refused at the handshake rather than an error in the log."""

    async def connect(self) -> None:
        await self.close(code=4404)
