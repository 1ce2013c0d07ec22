"""Who may watch the live feed: a read or admin key (Authorization: Bearer, X-API-Key, or
`?key=` since browsers cannot set headers on a WebSocket), or a staff session. Checked
at the handshake and again every LIVE_RECHECK_SECONDS, so a revoked key or an ended
session loses the feed too."""

from dataclasses import dataclass
from importlib import import_module
from types import SimpleNamespace
from urllib.parse import parse_qs, urlsplit

from django.conf import settings
from django.contrib.auth import get_user
from django.http.request import validate_host

from apps.keys.authentication import lookup_key, verify_presented_key
from apps.keys.models import APIKey, Scope
from apps.keys.throttling import client_address

READ_SCOPES = (Scope.READ, Scope.ADMIN)


@dataclass(frozen=True)
class Credential:
    kind: str  # "key" | "session"
    secret: str  # the raw key, or the session key
    actor: str  # key:<name> | user:<username>


def _headers(scope: dict) -> dict[str, str]:
    return {name.decode("latin-1"): value.decode("latin-1") for name, value in scope["headers"]}


def _presented_key(scope: dict, headers: dict[str, str]) -> str | None:
    scheme, _, value = headers.get("authorization", "").partition(" ")
    if scheme.lower() in {"bearer", "api-key"} and value.strip():
        return value.strip()
    if headers.get("x-api-key", "").strip():
        return headers["x-api-key"].strip()
    keys = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("key")
    return keys[0].strip() if keys and keys[0].strip() else None


def _session_key(headers: dict[str, str]) -> str | None:
    for part in headers.get("cookie", "").split(";"):
        name, _, value = part.strip().partition("=")
        if name == settings.SESSION_COOKIE_NAME and value:
            return value
    return None


def _same_site(headers: dict[str, str]) -> bool:
    """A browser sends its cookie from any page; only pages of an allowed host may use it
    (cross-site WebSocket hijacking). Clients that send no Origin are not browsers."""
    origin = headers.get("origin")
    if origin is None:
        return True
    try:
        host = urlsplit(origin).hostname
    except ValueError:  # "http://[": no host at all
        return False
    return bool(host) and validate_host(host, settings.ALLOWED_HOSTS)


def _key_credential(raw: str, key: APIKey | None) -> Credential | None:
    if key is None or key.scope not in READ_SCOPES:
        return None
    return Credential("key", raw, f"key:{key.name}")


def _staff_for_session(session_key: str) -> str | None:
    store = import_module(settings.SESSION_ENGINE).SessionStore(session_key)
    user = get_user(SimpleNamespace(session=store))  # Django's checks: hash, backend
    if user.is_authenticated and user.is_active and user.is_staff:
        return f"user:{user.get_username()}"
    return None


def credential_for(scope: dict) -> Credential | None:
    """The handshake's credential if it may watch; None refuses it. Blocking (database)."""
    headers = _headers(scope)
    raw = _presented_key(scope, headers)
    if raw is not None:
        client = scope.get("client") or ("", 0)
        address = client_address(client[0], headers.get("x-forwarded-for", ""))
        key, _wait = verify_presented_key(raw, address)  # failures count against the address
        return _key_credential(raw, key)
    session_key = _session_key(headers)
    if session_key is None or not _same_site(headers):
        return None
    actor = _staff_for_session(session_key)
    return None if actor is None else Credential("session", session_key, actor)


def still_allowed(credential: Credential) -> bool:
    """Whether the credential still holds: key not revoked or expired, session not ended."""
    if credential.kind == "key":
        return _key_credential(credential.secret, lookup_key(credential.secret)) is not None
    return _staff_for_session(credential.secret) is not None
