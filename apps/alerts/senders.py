"""One attempt at sending one notification to one channel: the caller logs it and retries.

`send` picks by channel type: `send_webhook` (the caller's exact body bytes, signed),
`send_slack` (an incoming-webhook message) or `send_email` (Django's mail). Each returns an
Attempt and never raises for a delivery problem (DNS, refused, timeout, TLS, non-2xx,
unsafe target, mail error): what went wrong is in `Attempt.error`, in words a user can act
on. Only 2xx counts as delivered. HTTP goes through the one outbound client,
`apps.core.egress`, under the alerts' policy: public addresses only (unless
ALERTS_ALLOW_PRIVATE_WEBHOOKS), the checked address pinned, 307/308 redirects re-checked,
the whole attempt bounded by `timeout`.

Where a channel may send is checked here too (`check_target`), when it is saved and
again at every send: a webhook or Slack URL is user input, and unguarded the worker would
POST wherever it points, e.g. the cloud metadata service (169.254.169.254), Redis or
PostgreSQL on localhost, or the office network (SSRF).

A webhook receiver checks `X-Analytics-Signature: sha256=<hex HMAC-SHA256 of the body>` with
the channel's secret over the raw bytes it received, and can drop repeats by
`X-Analytics-Delivery` (every retry of one delivery sends the same id and bytes).
"""

import hashlib
import hmac
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import EmailMessage, get_connection
from django.core.validators import validate_email

from apps.core import egress
from apps.core.egress import UnsafeTarget

__all__ = ["UnsafeTarget", "check_email", "check_target", "check_url", "send"]

USER_AGENT = "analytics-backend-alerts/1.0"
SIGNATURE_HEADER = "X-Analytics-Signature"
DELIVERY_HEADER = "X-Analytics-Delivery"
TIMEOUT_SETTING = "ALERTS_DELIVERY_TIMEOUT_SECONDS"
ALLOW_PRIVATE_SETTING = "ALERTS_ALLOW_PRIVATE_WEBHOOKS"
PRIVATE_HINT = f"set {ALLOW_PRIVATE_SETTING}=true to allow"

# Slack attachment colors; unknown severities are grey.
SEVERITY_COLORS = {
    "critical": "#a30200",
    "error": "#e01e5a",
    "warning": "#ecb22e",
    "info": "#36c5f0",
    "resolved": "#2eb67d",
}
_ERROR_SNIPPET = 200  # characters of a non-2xx response body kept in the error


@dataclass(frozen=True)
class Attempt:
    ok: bool
    status_code: int | None  # the last HTTP status seen; None for email and network errors
    error: str  # empty when ok
    duration_ms: float
    permanent: bool = False  # sending it again would fail the same way (not retried)


def check_email(address: str) -> None:
    """Raise ValueError unless `address` is one email address (Django's EmailValidator)."""
    try:
        validate_email(address)
    except ValidationError:
        raise ValueError(f"{address!r} is not a valid email address") from None


def check_target(channel_type: str, target: str) -> None:
    """Raise ValueError unless a channel of `channel_type` may send to `target`: an email
    address for email, a safe URL (`check_url`) for the others. The one check the
    services, the API's input and the admin's form all apply."""
    if channel_type == "email":
        check_email(target)
    else:
        check_url(target)


def check_url(
    url: str, *, allow_private: bool | None = None, timeout: float = egress.CONNECT_TIMEOUT
) -> None:
    """Raise UnsafeTarget unless notifications may be sent to `url`: http(s), no
    credentials, and (unless ALERTS_ALLOW_PRIVATE_WEBHOOKS or `allow_private`) a host that
    resolves to public addresses only. A host that does not resolve is refused too."""
    egress.check_url(
        url, allow_private=_allow_private(allow_private), private_hint=PRIVATE_HINT, timeout=timeout
    )


def signature(secret: str, body: bytes) -> str:
    """The X-Analytics-Signature value: `sha256=` and the hex HMAC-SHA256 of `body`."""
    return "sha256=" + hmac.new(secret.encode(), bytes(body), hashlib.sha256).hexdigest()


def send(
    *,
    channel_type: str,
    target: str,
    secret: str = "",
    body: bytes = b"",
    delivery_id: str = "",
    message: Mapping[str, Any] | None = None,
    subject: str = "",
    text: str = "",
    timeout: float | None = None,
) -> Attempt:
    """Send to a channel of `channel_type`, with the arguments that type uses:
    webhook: body, secret, delivery_id; slack: message (or subject and text), delivery_id;
    email: subject, text."""
    if channel_type == "webhook":
        return send_webhook(target, body, secret=secret, delivery_id=delivery_id, timeout=timeout)
    if channel_type == "slack":
        message = message if message is not None else {"title": subject, "text": text}
        return send_slack(target, message, delivery_id=delivery_id, timeout=timeout)
    if channel_type == "email":
        return send_email(target, subject, text, timeout=timeout)
    return Attempt(False, None, f"unknown channel type {channel_type!r}", 0.0)


def send_webhook(
    target: str,
    body: bytes,
    *,
    delivery_id: str,
    secret: str = "",
    timeout: float | None = None,
    connect_timeout: float = egress.CONNECT_TIMEOUT,
    allow_private: bool | None = None,
) -> Attempt:
    """POST `body` (exact bytes; a memoryview from a BinaryField will do) as JSON, signed
    when there is a secret."""
    body = bytes(body)
    headers = _headers(delivery_id)
    if secret:
        headers[SIGNATURE_HEADER] = signature(secret, body)
    return _post(target, body, headers, timeout, connect_timeout, allow_private)


def send_slack(
    target: str,
    message: Mapping[str, Any],
    *,
    delivery_id: str = "",
    timeout: float | None = None,
    connect_timeout: float = egress.CONNECT_TIMEOUT,
    allow_private: bool | None = None,
) -> Attempt:
    """POST `slack_payload(message)` to a Slack incoming-webhook URL."""
    body = slack_payload(message)
    return _post(target, body, _headers(delivery_id), timeout, connect_timeout, allow_private)


def send_email(target: str, subject: str, text: str, *, timeout: float | None = None) -> Attempt:
    """Plain-text mail from DEFAULT_FROM_EMAIL through the configured backend; ok means the
    backend (the SMTP server) accepted it, not that it reached the inbox."""
    started = time.monotonic()
    try:
        check_email(target)
        connection = get_connection()
        if getattr(connection, "timeout", False) is None:  # SMTP without EMAIL_TIMEOUT
            connection.timeout = _timeout(timeout)
        sent = EmailMessage(
            subject=" ".join(subject.split()),  # a line break would be a header injection
            body=text,
            from_email=settings.DEFAULT_FROM_EMAIL,
            to=[target],
            connection=connection,
        ).send()
    except Exception as exc:  # any mail backend's failure is a failed attempt
        return _failed(started, None, f"email not sent: {_describe(exc)}")
    if not sent:
        return _failed(started, None, "email not sent: the mail backend accepted nothing")
    return Attempt(True, None, "", _ms(started))


def slack_payload(message: Mapping[str, Any]) -> bytes:
    """`{"text", "attachments": [{color by severity, title (linked to url), text}]}`.

    message: title, text, severity (critical, error, warning, info, resolved), url optional.
    Slack's control characters are escaped, so text from a metric or rule name cannot
    mention @channel or forge links.
    """
    title = str(message.get("title") or "Alert")
    text = str(message.get("text") or "")
    severity = str(message.get("severity") or "").lower()
    headline = f"[{severity.upper()}] {title}" if severity else title
    attachment: dict[str, str] = {
        "color": SEVERITY_COLORS.get(severity, "#9e9e9e"),
        "fallback": _slack_escape(headline),
        "title": _slack_escape(title),
    }
    if text and text != title:
        attachment["text"] = _slack_escape(text)
    url = str(message.get("url") or "")
    if url.startswith(("https://", "http://")):
        attachment["title_link"] = url
    return orjson.dumps({"text": _slack_escape(headline), "attachments": [attachment]})


def _post(
    target: str,
    body: bytes,
    headers: dict[str, str],
    timeout: float | None,
    connect_timeout: float,
    allow_private: bool | None,
) -> Attempt:
    started = time.monotonic()
    try:
        response = egress.post(
            target,
            body,
            headers,
            allow_private=_allow_private(allow_private),
            private_hint=PRIVATE_HINT,
            timeout=_timeout(timeout),
            connect_timeout=connect_timeout,
        )
    except UnsafeTarget as exc:
        return _failed(started, None, f"refused: {exc}")
    except egress.EgressError as exc:
        return _failed(started, exc.status_code, str(exc), permanent=exc.permanent)
    if 200 <= response.status < 300:
        return Attempt(True, response.status, "", _ms(started))
    error = f"HTTP {response.status}"
    snippet = " ".join(response.body.decode("utf-8", "replace").split())[:_ERROR_SNIPPET]
    if snippet:
        error += f": {snippet}"
    return _failed(started, response.status, error)


def _headers(delivery_id: str) -> dict[str, str]:
    headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT}
    if delivery_id:
        headers[DELIVERY_HEADER] = delivery_id
    headers["Connection"] = "close"
    return headers


def _allow_private(allow_private: bool | None) -> bool:
    if allow_private is None:
        return bool(getattr(settings, ALLOW_PRIVATE_SETTING, False))
    return allow_private


def _timeout(timeout: float | None) -> float:
    if timeout is not None:
        return timeout
    return float(getattr(settings, TIMEOUT_SETTING, egress.TIMEOUT))


def _slack_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _describe(exc: Exception) -> str:
    detail = str(exc)
    return f"{type(exc).__name__}: {detail}" if detail else type(exc).__name__


def _failed(
    started: float, status_code: int | None, error: str, *, permanent: bool = False
) -> Attempt:
    return Attempt(False, status_code, error, _ms(started), permanent)


def _ms(started: float) -> float:
    return round((time.monotonic() - started) * 1000, 1)
