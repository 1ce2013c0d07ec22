import time
from datetime import timedelta

from django.contrib.auth.models import AnonymousUser
from django.utils import timezone
from rest_framework import authentication, exceptions

from .models import APIKey

# Hashing a presented key and looking it up costs a query per request; a
# valid key is remembered for a few seconds so revocation still bites fast.
_CACHE_SECONDS = 5.0
LAST_USED_PRECISION = timedelta(minutes=1)  # one UPDATE a minute per key, not per request
_valid_keys: dict[str, tuple[float, APIKey]] = {}


def key_from_request(request) -> str | None:
    header = request.META.get("HTTP_AUTHORIZATION", "")
    if header:
        scheme, _, value = header.partition(" ")
        if scheme.lower() in {"bearer", "api-key"} and value.strip():
            return value.strip()
    value = request.META.get("HTTP_X_API_KEY", "").strip()
    return value or None


def lookup_key(raw: str) -> APIKey | None:
    now = time.monotonic()
    cached = _valid_keys.get(raw)
    if cached and now - cached[0] < _CACHE_SECONDS:
        return cached[1]
    try:
        key = APIKey.objects.get_from_key(raw)
    except APIKey.DoesNotExist:
        return None
    if key.has_expired or key.revoked:
        return None
    seen = timezone.now()
    if key.last_used_at is None or seen - key.last_used_at > LAST_USED_PRECISION:
        APIKey.objects.filter(pk=key.pk).update(last_used_at=seen)
        key.last_used_at = seen
    if len(_valid_keys) > 10_000:
        _valid_keys.clear()
    _valid_keys[raw] = (now, key)
    return key


class APIKeyAuthentication(authentication.BaseAuthentication):
    """`Authorization: Bearer <key>` or `X-API-Key: <key>`."""

    def authenticate(self, request):
        raw = key_from_request(request)
        if raw is None:
            return None
        key = lookup_key(raw)
        if key is None:
            raise exceptions.AuthenticationFailed("Invalid, expired or revoked API key.")
        return (AnonymousUser(), key)

    def authenticate_header(self, request) -> str:
        return 'Bearer realm="api"'
