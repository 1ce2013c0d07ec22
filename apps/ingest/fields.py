"""Field types shared by every kind's schema: bounded, scrubbed, UTC."""

import ipaddress
import re
from datetime import UTC, datetime
from typing import Annotated, Any
from uuid import UUID

from django.conf import settings
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

SECRET_KEY_PATTERN = re.compile(
    r"pass(word|wd)?|secret|token|authorization|cookie|api[_-]?key|session[_-]?key|credential",
    re.IGNORECASE,
)
# `password=hunter2`, `"token": "abc"`, `Authorization: Bearer x` inside free text.
_SECRET_IN_TEXT = re.compile(
    r"(?P<key>(?:pass(?:word|wd)?|secret|token|authorization|cookie|api[_-]?key)[\"']?\s*[:=]\s*)"
    r"(?P<value>[\"']?(?:bearer\s+|basic\s+)?[^\s\"',;&]+)",
    re.IGNORECASE,
)
REDACTED = "[redacted]"


def scrub(value: Any) -> Any:
    """Replace the values of secret-looking keys, at any depth."""
    if isinstance(value, dict):
        return {
            k: (REDACTED if SECRET_KEY_PATTERN.search(str(k)) else scrub(v))
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [scrub(v) for v in value]
    if isinstance(value, str):
        return scrub_text(value)
    return value


def scrub_text(text: str) -> str:
    if not text:
        return text
    return _SECRET_IN_TEXT.sub(lambda m: m.group("key") + REDACTED, text)


def anonymize_ip(value: str | None) -> str | None:
    """Zero the host part (IPv4 /24, IPv6 /48) unless ANALYTICS_ANONYMIZE_IP is off."""
    if not value:
        return None
    try:
        ip = ipaddress.ip_address(value.strip())
    except ValueError:
        raise ValueError("not an IP address") from None
    if not settings.ANALYTICS_ANONYMIZE_IP:
        return str(ip)
    mask = _V4_MASK if ip.version == 4 else _V6_MASK
    return str(type(ip)(int(ip) & mask))


_V4_MASK = ((1 << 32) - 1) ^ ((1 << 8) - 1)  # keep /24
_V6_MASK = ((1 << 128) - 1) ^ ((1 << 80) - 1)  # keep /48


def as_utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def Text(max_length: int):  # noqa: N802 - reads like a type in schemas
    return Annotated[str, StringConstraints(max_length=max_length)]


ShortText = Text(255)
LongText = Annotated[str, StringConstraints(max_length=20_000), AfterValidator(scrub_text)]
Secretless = Annotated[dict[str, Any], AfterValidator(scrub)]
UtcDatetime = Annotated[datetime, AfterValidator(as_utc)]
IPAddress = Annotated[str | None, AfterValidator(anonymize_ip)]
PositiveInt = Annotated[int, Field(ge=0, le=2_147_483_647)]
Milliseconds = Annotated[float, Field(ge=0, le=86_400_000 * 7, allow_inf_nan=False)]


class ItemSchema(BaseModel):
    """Base of every kind: optional idempotency key and event time."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=False)

    event_id: UUID | None = None
    timestamp: UtcDatetime | None = None
