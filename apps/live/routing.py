"""The ASGI process: Django for HTTP, the live feed for WebSockets, and a lifespan that
starts this process's broadcaster and stops it cleanly."""

import logging

from channels.routing import ProtocolTypeRouter, URLRouter
from django.urls import path, re_path

from .broadcaster import Broadcaster
from .consumers import LiveFeedConsumer, NotFoundConsumer

logger = logging.getLogger(__name__)

websocket_urls = [
    path("ws/analytics/", LiveFeedConsumer.as_asgi()),
    re_path(r"", NotFoundConsumer.as_asgi()),
]


class Lifespan:
    """ASGI lifespan: one Broadcaster per process, from startup to shutdown."""

    def __init__(self):
        self.broadcaster: Broadcaster | None = None

    async def __call__(self, scope, receive, send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self.broadcaster = Broadcaster()
                await self.broadcaster.start()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self.broadcaster is not None:
                    await self.broadcaster.stop()
                await send({"type": "lifespan.shutdown.complete"})
                return


def application(http) -> ProtocolTypeRouter:
    return ProtocolTypeRouter(
        {"http": http, "websocket": URLRouter(websocket_urls), "lifespan": Lifespan()}
    )
