import re
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    ConfigDict,
    Field,
    StringConstraints,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from apps.ingest.fields import ItemSchema, PositiveInt, Scrubbed, Secretless, Text, WithExtraData

from .models import ActivityType


class UserActivityIn(WithExtraData):
    activity_type: ActivityType
    user_id: Text(255) = ""
    page_url: Scrubbed(2000) = ""
    element_id: Scrubbed(255) = ""
    search_query: Scrubbed(1000) = ""
    session_id: Text(255) = ""
    duration_ms: PositiveInt | None = None


SNAKE_CASE = re.compile(r"^[a-z][a-z0-9]*(_[a-z0-9]+)*$")


def _snake_case(value: str) -> str:
    # fullmatch: `$` alone would let a trailing newline through.
    if not SNAKE_CASE.fullmatch(value):
        raise ValueError("must be snake_case, e.g. memory_posted")
    return value


# Fields of the replaced system's event structure that its server set: a client that
# sends an event back as it was documented is accepted, and these are ignored.
READ_ONLY_EVENT_FIELDS = ("id", "created_at")


def _document_read_only(schema: dict) -> None:
    properties = schema.setdefault("properties", {})
    for name in READ_ONLY_EVENT_FIELDS:
        properties[name] = {
            "readOnly": True,
            "description": "Read-only field of the old event structure: accepted and ignored.",
        }


class EventIn(ItemSchema):
    model_config = ConfigDict(json_schema_extra=_document_read_only)

    event_type: Annotated[
        str,
        StringConstraints(max_length=100),
        AfterValidator(_snake_case),
        # The check above, for the document (our message beats pydantic's pattern one).
        WithJsonSchema({"type": "string", "maxLength": 100, "pattern": SNAKE_CASE.pattern}),
    ]
    user_id: Text(255) = ""
    family_unit_id: Text(255) = ""
    session_id: Text(255) = ""
    metadata: Secretless = Field(default_factory=dict)

    @field_validator("user_id", "family_unit_id", "session_id", mode="before")
    @classmethod
    def _ids_as_text(cls, value):
        # The replaced system's ids were UUIDs; any id is stored as text.
        return "" if value is None else str(value)

    @model_validator(mode="before")
    @classmethod
    def _ignore_read_only(cls, data: Any) -> Any:
        if isinstance(data, dict) and any(name in data for name in READ_ONLY_EVENT_FIELDS):
            data = {k: v for k, v in data.items() if k not in READ_ONLY_EVENT_FIELDS}
        return data
