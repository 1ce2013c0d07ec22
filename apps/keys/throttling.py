import logging

from rest_framework.throttling import SimpleRateThrottle

from .models import APIKey, Scope

logger = logging.getLogger(__name__)


class KeyRateThrottle(SimpleRateThrottle):
    """Per-key rate (per user for sessions, per IP otherwise); fails open if Redis is down."""

    def get_rate(self):
        return None  # chosen per request in allow_request

    def allow_request(self, request, view) -> bool:
        is_ingest = getattr(view, "required_scope", Scope.READ) == Scope.INGEST
        self.scope = "ingest" if is_ingest else "read"
        self.rate = self.THROTTLE_RATES.get(self.scope)
        self.num_requests, self.duration = self.parse_rate(self.rate)
        if self.rate is None:
            return True
        try:
            return super().allow_request(request, view)
        except Exception:  # the cache (Redis) being down must not refuse traffic
            logger.warning("throttle cache unavailable; allowing request", exc_info=True)
            return True

    def get_cache_key(self, request, view) -> str:
        if isinstance(request.auth, APIKey):
            ident = f"key:{request.auth.pk}"
        elif request.user and request.user.is_authenticated:
            ident = f"user:{request.user.pk}"
        else:
            ident = f"ip:{self.get_ident(request)}"
        return f"throttle:{self.scope}:{ident}"
