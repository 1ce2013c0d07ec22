"""Field types shared by every kind's schema: bounded, scrubbed, UTC."""

from datetime import UTC, datetime
from typing import Annotated, Any
from uuid import UUID

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from .privacy import anonymize_ip, scrub, scrub_text

# Every number a client sends for a metric lies within this range, so no sum,
# difference or percentage computed over them can overflow a float (1.7e308).
MAX_ABS_NUMBER = 1e18


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
