"""GET /status/: the public status page (no sign-in, the same page for everyone).

The rendered page is kept CACHE_SECONDS in Redis, so a crowd reloading it during an
outage costs one render per interval; browsers and proxies may keep it as long. Without
Redis it is rendered each time. It reads no session and sets no cookie.
"""

import logging

from django.http import HttpRequest, HttpResponse
from django.template.loader import render_to_string
from django.utils.cache import patch_cache_control
from django.views.decorators.http import require_safe
from redis import RedisError

from apps.core.redis import get_redis, redis_key

from .selectors import status_page

logger = logging.getLogger(__name__)

CACHE_SECONDS = 15
# The page reloads itself this often when left open (a wall screen, an anxious user).
REFRESH_SECONDS = 60


def _cache_key() -> str:
    return redis_key("status", "page")


def _rendered() -> bytes:
    try:
        cached = get_redis().get(_cache_key())
    except (RedisError, OSError):
        cached = None
    if cached is not None:
        return cached
    page = status_page()
    html = render_to_string(
        "status/page.html", {"page": page, "refresh_seconds": REFRESH_SECONDS}
    ).encode()
    try:
        get_redis().set(_cache_key(), html, ex=CACHE_SECONDS)
    except (RedisError, OSError):
        logger.warning("status page: not cached (Redis does not answer)")
    return html


@require_safe
def status_view(request: HttpRequest) -> HttpResponse:
    response = HttpResponse(_rendered(), content_type="text/html; charset=utf-8")
    patch_cache_control(response, public=True, max_age=CACHE_SECONDS)
    return response
