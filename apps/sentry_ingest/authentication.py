"""The Sentry SDKs' credential: the DSN's public key, here an ingest key of this service.

SDKs send it as `X-Sentry-Auth: Sentry sentry_key=<key>, sentry_version=7, ...` (some as
`Authorization: Sentry ...`), browsers as `?sentry_key=<key>`. It is then checked exactly
as `X-API-Key` is (apps.keys.authentication): the same cache, the same failure budget per
address, the same 401 and 429 answers.
"""

from rest_framework.request import Request

from apps.keys.authentication import APIKeyAuthentication, key_from_request

SCHEME = "sentry"


def sentry_auth_fields(header: str) -> dict[str, str]:
    """`Sentry sentry_key=abc, sentry_version=7` -> {"sentry_key": "abc", ...}; {} if the
    header is not of the Sentry scheme."""
    scheme, _, rest = header.strip().partition(" ")
    if scheme.lower() != SCHEME:
        return {}
    fields = {}
    for part in rest.split(","):
        name, sep, value = part.partition("=")
        if sep:
            fields[name.strip().lower()] = value.strip()
    return fields


class SentryKeyAuthentication(APIKeyAuthentication):
    """The key from X-Sentry-Auth, Authorization: Sentry ..., ?sentry_key=, or the
    service's own headers (X-API-Key, Authorization: Bearer)."""

    def presented_key(self, request: Request) -> str | None:
        for header in ("HTTP_X_SENTRY_AUTH", "HTTP_AUTHORIZATION"):
            key = sentry_auth_fields(request.META.get(header, "")).get("sentry_key")
            if key:
                return key
        key = request.query_params.get("sentry_key", "").strip()
        return key or key_from_request(request)

    def authenticate_header(self, request: Request) -> str:
        return 'Sentry realm="api"'
