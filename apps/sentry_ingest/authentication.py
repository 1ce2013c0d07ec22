"""The Sentry SDKs' credential: the DSN's public key, here an ingest key of this service.

SDKs send it as `X-Sentry-Auth: Sentry sentry_key=<key>, sentry_version=7, ...` (some as
`Authorization: Sentry ...`), browsers as `?sentry_key=<key>`. An envelope forwarded by
an application's tunnel (the browser SDK's `tunnel` option) may carry none of those: its
envelope header's `dsn` holds the key, and is read as Sentry's relay reads it. The key is
then checked exactly as `X-API-Key` is (apps.keys.authentication): the same cache, the
same failure budget per address, the same 401 and 429 answers.
"""

from urllib.parse import urlsplit

import orjson
from rest_framework.request import Request

from apps.keys.authentication import APIKeyAuthentication, key_from_request

from .envelope import request_body

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


def dsn_key(header_line: bytes) -> str | None:
    """The public key of the `dsn` in an envelope header line
    (`{"dsn": "https://<key>@host/42", ...}`); None when there is none to read."""
    try:
        header = orjson.loads(header_line)
    except orjson.JSONDecodeError:
        return None
    dsn = header.get("dsn") if isinstance(header, dict) else None
    if not isinstance(dsn, str) or len(dsn) > 2000:
        return None
    try:
        key = urlsplit(dsn.strip()).username
    except ValueError:
        return None
    return (key or "").strip() or None


class SentryKeyAuthentication(APIKeyAuthentication):
    """The key from X-Sentry-Auth, Authorization: Sentry ..., ?sentry_key=, the service's
    own headers (X-API-Key, Authorization: Bearer), or else (views with `envelope_dsn`)
    the envelope header's `dsn`."""

    def presented_key(self, request: Request) -> str | None:
        for header in ("HTTP_X_SENTRY_AUTH", "HTTP_AUTHORIZATION"):
            key = sentry_auth_fields(request.META.get(header, "")).get("sentry_key")
            if key:
                return key
        key = request.query_params.get("sentry_key", "").strip() or key_from_request(request)
        if key or not getattr((request.parser_context or {}).get("view"), "envelope_dsn", False):
            return key
        body = request_body(request)  # 400/413/415 as the endpoint answers them
        return dsn_key(body.split(b"\n", 1)[0])

    def authenticate_header(self, request: Request) -> str:
        return 'Sentry realm="api"'
