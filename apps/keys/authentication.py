import re
import time
from datetime import timedelta

from django.contrib.auth.models import AnonymousUser
from django.utils import timezone
from rest_framework import authentication, exceptions
from rest_framework.request import Request

from .models import APIKey
from .throttling import auth_failure_wait, client_ip

# Hashing a presented key and looking it up costs a query per request; a
# valid key is remembered for a few seconds so revocation still bites fast.
_CACHE_SECONDS = 5.0
# A refused key is remembered as briefly, so a flood of one bad key costs one
# query per process every few seconds; bounded so random keys cannot grow it.
_INVALID_CACHE_SECONDS = 5.0
_INVALID_CACHE_SIZE = 4096
LAST_USED_PRECISION = timedelta(minutes=1)  # one UPDATE a minute per key, not per request
_valid_keys: dict[str, tuple[float, APIKey]] = {}
_invalid_keys: dict[str, float] = {}  # key -> when it was refused; oldest first
_clock = time.monotonic  # tests replace it (time-machine does not move monotonic)

# `<prefix>.<secret>` as djangorestframework-api-key makes them (letters and digits).
_generator = APIKey.objects.key_generator
_WELL_FORMED = re.compile(
    rf"[A-Za-z0-9]{{{_generator.prefix_length}}}\.[A-Za-z0-9]{{{_generator.secret_key_length}}}"
)
_KEY_LENGTH = _generator.prefix_length + 1 + _generator.secret_key_length


def key_from_request(request: Request) -> str | None:
    header = request.META.get("HTTP_AUTHORIZATION", "")
    if header:
        scheme, _, value = header.partition(" ")
        if scheme.lower() in {"bearer", "api-key"} and value.strip():
            return value.strip()
    value = request.META.get("HTTP_X_API_KEY", "").strip()
    return value or None


def is_well_formed(raw: str) -> bool:
    return len(raw) == _KEY_LENGTH and _WELL_FORMED.fullmatch(raw) is not None


def cached_key(raw: str) -> APIKey | None:
    """The key if it was found valid less than _CACHE_SECONDS ago."""
    cached = _valid_keys.get(raw)
    if cached is not None and _clock() - cached[0] < _CACHE_SECONDS:
        return cached[1]
    return None


def recently_refused(raw: str) -> bool:
    refused_at = _invalid_keys.get(raw)
    if refused_at is None:
        return False
    if _clock() - refused_at < _INVALID_CACHE_SECONDS:
        return True
    del _invalid_keys[raw]
    return False


def _remember_refused(raw: str) -> None:
    while len(_invalid_keys) >= _INVALID_CACHE_SIZE:
        del _invalid_keys[next(iter(_invalid_keys))]
    _invalid_keys[raw] = _clock()


def lookup_key(raw: str) -> APIKey | None:
    """The valid key for `raw` (cached for a few seconds), or None. Queries the
    database unless cached either way; callers check the failure budget first."""
    key = cached_key(raw)
    if key is not None:
        return key
    if not is_well_formed(raw) or recently_refused(raw):
        return None
    try:
        key = APIKey.objects.get_from_key(raw)
    except APIKey.DoesNotExist:
        key = None
    if key is None or key.has_expired or key.revoked:
        _valid_keys.pop(raw, None)
        _remember_refused(raw)
        return None
    seen = timezone.now()
    if key.last_used_at is None or seen - key.last_used_at > LAST_USED_PRECISION:
        APIKey.objects.filter(pk=key.pk).update(last_used_at=seen)
        key.last_used_at = seen
    if len(_valid_keys) > 10_000:
        _valid_keys.clear()
    _valid_keys[raw] = (_clock(), key)
    return key


def verify_presented_key(raw: str, address: str) -> tuple[APIKey | None, int]:
    """The valid key `raw` names, or None and the seconds `address` must now wait
    (0: within its budget of failures). Any transport: requests, WebSocket handshakes."""
    key = cached_key(raw)  # the hot path: no Redis, no database
    if key is not None:
        return key, 0
    if is_well_formed(raw) and not recently_refused(raw):
        # Blocked addresses never reach the database, unless the key was valid here
        # before (its cache entry expired): that client is no guesser.
        wait = 0 if raw in _valid_keys else auth_failure_wait(address, record=False)
        if wait:
            return None, wait
        key = lookup_key(raw)
        if key is not None:
            return key, 0
    return None, auth_failure_wait(address, record=True)


class APIKeyAuthentication(authentication.BaseAuthentication):
    """`Authorization: Bearer <key>` or `X-API-Key: <key>`.

    Failed attempts are counted per client IP; over THROTTLE_RATE_AUTH_FAILURES
    the IP gets 429 before any database lookup. A key this process has accepted
    before is still served (it is no guess); one it has never seen gets the 429.
    """

    def authenticate(self, request: Request) -> tuple[AnonymousUser, APIKey] | None:
        raw = self.presented_key(request)
        if raw is None:
            return None
        key = cached_key(raw)  # the hot path: no address, no Redis, no database
        if key is None:
            key, wait = verify_presented_key(raw, client_ip(request))
        if key is not None:
            return (AnonymousUser(), key)
        if wait:
            raise _too_many_failures(wait)
        raise exceptions.AuthenticationFailed("Invalid, expired or revoked API key.")

    def presented_key(self, request: Request) -> str | None:
        """Where the key is read from; a protocol with its own place for it (the Sentry
        SDKs' `X-Sentry-Auth`) overrides this and keeps the same checks and answers."""
        return key_from_request(request)

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="api"'


def _too_many_failures(wait: int) -> exceptions.Throttled:
    return exceptions.Throttled(
        wait, detail="Too many requests with an invalid API key from this address."
    )
