"""Field types shared by every kind's schema: bounded, scrubbed, UTC."""

from datetime import UTC, datetime
from functools import cache
from typing import Annotated, Any
from uuid import UUID

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

from .privacy import anonymize_ip, scrub, scrub_text

# Every number a client sends for a metric lies within this range, so no sum,
# difference or percentage computed over them can overflow a float (1.7e308).
MAX_ABS_NUMBER = 1e18
# Objects and lists inside a JSON bag (metadata, context, extra_data) nest at
# most this deep: deeper input is a per-item error, never a failed encode later.
MAX_NESTING = 32


def as_utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    try:
        return value.astimezone(UTC)
    except OverflowError:  # 9999-12-31T23:59:59-01:00 is past year 9999 in UTC
        raise ValueError("outside the range of representable UTC times") from None


def nesting_depth(value: Any, limit: int = MAX_NESTING) -> int:
    """How deep objects and lists nest (a scalar is 0); stops counting past `limit`."""
    depth, level = 0, [value]
    while level and depth <= limit:
        children = []
        for node in level:
            if isinstance(node, dict):
                children.extend(node.values())
            elif isinstance(node, list):
                children.extend(node)
        if not children and not any(isinstance(n, dict | list) for n in level):
            break
        depth += 1
        level = children
    return depth


def _bounded_bag(value: dict[str, Any]) -> dict[str, Any]:
    if nesting_depth(value) > MAX_NESTING:
        raise ValueError(f"nested more than {MAX_NESTING} levels deep")
    return scrub(value)


def Text(max_length: int):  # noqa: N802 - reads like a type in schemas
    return Annotated[str, StringConstraints(max_length=max_length)]


def Scrubbed(max_length: int):  # noqa: N802 - reads like a type in schemas
    """Free text that may carry a URL, a header or a log line: secrets are redacted.

    A redaction may lengthen the text; it is cut back to the column's length.
    """
    return Annotated[
        str,
        StringConstraints(max_length=max_length),
        AfterValidator(lambda text: scrub_text(text)[:max_length]),
    ]


def _not_bool(value: Any) -> Any:
    # JSON true is not 1: pydantic's lax mode would store it as one.
    if isinstance(value, bool):
        raise ValueError("must be a number, not a boolean")
    return value


NotBool = BeforeValidator(_not_bool)
ShortText = Text(255)
LongText = Scrubbed(20_000)
Secretless = Annotated[dict[str, Any], AfterValidator(_bounded_bag)]
UtcDatetime = Annotated[datetime, AfterValidator(as_utc)]
IPAddress = Annotated[str | None, AfterValidator(anonymize_ip)]
# NotBool after the bounds: they are then checked by pydantic-core, not by three Python
# calls a number (a bool is still refused first: a before-validator runs before them).
PositiveInt = Annotated[int, Field(ge=0, le=2_147_483_647), NotBool]
Milliseconds = Annotated[float, Field(ge=0, le=86_400_000 * 7, allow_inf_nan=False), NotBool]
BoundedNumber = Annotated[
    float, Field(ge=-MAX_ABS_NUMBER, le=MAX_ABS_NUMBER, allow_inf_nan=False), NotBool
]
HttpStatus = Annotated[int, Field(ge=100, le=599), NotBool]


@cache
def optional_inputs(schema: type[BaseModel]) -> frozenset[str]:
    """The body keys of a schema's optional fields (their aliases included)."""
    names: set[str] = set()
    for name, info in schema.model_fields.items():
        if not info.is_required():
            names.update(getattr(info.validation_alias, "choices", None) or [name])
    return frozenset(names)


def null_means_absent(data: Any, optional: frozenset[str]) -> Any:
    """Drop the keys of optional fields whose value is JSON null.

    Old clients send null for "not known" (the old frontend's
    `sessionStorage.getItem('session_id')` when no session is stored); that
    is the field's default, never a reason to lose the item. A required field
    sent as null is kept, so its own check refuses it by name.
    """
    if isinstance(data, dict) and None in data.values():
        return {k: v for k, v in data.items() if v is not None or k not in optional}
    return data


class NullMeansAbsent(BaseModel):
    """Base of every item schema and its nested objects: null for an optional field is
    as if the field were not sent (see null_means_absent)."""

    @model_validator(mode="before")
    @classmethod
    def _null_means_absent(cls, data: Any) -> Any:
        return null_means_absent(data, optional_inputs(cls))


class ItemSchema(NullMeansAbsent):
    """Base of every kind: optional idempotency key and event time.

    Unknown top-level fields are refused per item, naming the field, so a typo
    never drops data silently; free-form data goes in the kind's JSON bag.
    """

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)

    event_id: UUID | None = Field(
        default=None,
        description="Idempotency key: an item sent again with the same event_id is stored "
        "once (the first one wins). The nil UUID is refused.",
    )
    timestamp: UtcDatetime | None = Field(
        default=None,
        description="ISO 8601; UTC unless an offset is given. Not more than 1 hour in the "
        "future, not older than the kind's retention (ANALYTICS_RETENTION_DAYS, 90 days).",
    )

    @field_validator("event_id")
    @classmethod
    def _not_nil(cls, value: UUID | None) -> UUID | None:
        if value is not None and value.int == 0:  # the nil UUID (UUID.__eq__ is ~0.3 us)
            raise ValueError("the nil UUID cannot identify an item; omit event_id instead")
        return value


def document_metadata(schema: dict) -> None:
    """JSON schema: `metadata` is accepted though it is not a field of its own."""
    schema.setdefault("properties", {})["metadata"] = {
        "type": "object",
        "description": "Accepted for older clients: merged into this kind's JSON object "
        "(its own keys win).",
    }


class WithExtraData(ItemSchema):
    """Kinds whose free-form bag is `extra_data`: the old clients' `metadata` lands there too."""

    model_config = ConfigDict(json_schema_extra=document_metadata)

    extra_data: Secretless = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _metadata_into_extra_data(cls, data: Any) -> Any:
        if isinstance(data, dict) and "metadata" in data:
            data = dict(data)
            metadata = data.pop("metadata")
            extra = data.get("extra_data")
            if isinstance(metadata, dict) and isinstance(extra, dict | None):
                data["extra_data"] = {**metadata, **(extra or {})}
            elif metadata is not None:
                data["extra_data"] = metadata  # let the bag's own check name the error
        return data
