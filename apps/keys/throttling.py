import logging
import time

from redis import RedisError
from rest_framework.throttling import SimpleRateThrottle

from apps.core.redis import get_redis

from .models import APIKey, Scope

logger = logging.getLogger(__name__)


class KeyRateThrottle(SimpleRateThrottle):
    """Per key (per user for sessions, per IP otherwise), one counter per fixed window.

    One pipelined INCR per request whatever the rate, where DRF's default keeps
    every request's timestamp. Redis being down lets traffic through.
    """

    def __init__(self):  # rates are chosen per request, in allow_request
        self._wait = None

    def allow_request(self, request, view) -> bool:
        is_ingest = getattr(view, "required_scope", Scope.READ) == Scope.INGEST
        self.scope = "ingest" if is_ingest else "read"
        rate = self.THROTTLE_RATES.get(self.scope)
        if rate is None:
            return True
        limit, duration = self.parse_rate(rate)
        now = time.time()
        window = int(now // duration)
        key = f"analytics:throttle:{self.get_cache_key(request, view)}:{window}"
        try:
            pipe = get_redis().pipeline(transaction=False)
            pipe.incr(key)
            pipe.expire(key, duration + 1)
            count = pipe.execute()[0]
        except RedisError:
            logger.warning("throttle counters unavailable; allowing request")
            return True
        if count > limit:
            self._wait = (window + 1) * duration - now
            return False
        return True

    def wait(self):
        return self._wait

    def get_cache_key(self, request, view) -> str:
        if isinstance(request.auth, APIKey):
            ident = f"key:{request.auth.pk}"
        elif request.user and request.user.is_authenticated:
            ident = f"user:{request.user.pk}"
        else:
            ident = f"ip:{self.get_ident(request)}"
        return f"{self.scope}:{ident}"
