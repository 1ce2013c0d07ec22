from typing import Any

from pydantic import ConfigDict, Field, model_validator

from apps.ingest.fields import (
    ItemSchema,
    LongText,
    Scrubbed,
    Secretless,
    Text,
    document_metadata,
)

from .models import ErrorCategory, Severity


def _document_bags(schema: dict) -> None:
    document_metadata(schema)
    schema["properties"]["extra_data"] = {
        **schema["properties"]["metadata"],
        "description": "Accepted as other kinds name their object: merged into `context`.",
    }


class ErrorIn(ItemSchema):
    model_config = ConfigDict(json_schema_extra=_document_bags)

    category: ErrorCategory
    severity: Severity = Severity.ERROR
    error_message: LongText = Field(min_length=1)
    error_code: Text(100) = ""
    endpoint: Scrubbed(500) = ""
    user_id: Text(255) = ""
    device_id: Text(255) = ""
    stack_trace: LongText = ""
    context: Secretless = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _bags_into_context(cls, data: Any) -> Any:
        """`metadata` or `extra_data`, as other kinds name their bag, land in `context`."""
        if isinstance(data, dict) and ("metadata" in data or "extra_data" in data):
            data = dict(data)
            merged: dict = {}
            for name in ("metadata", "extra_data", "context"):
                bag = data.pop(name, None)
                if bag is not None and not isinstance(bag, dict):
                    data["context"] = bag  # let the bag's own check name the error
                    return data
                merged.update(bag or {})
            data["context"] = merged
        return data
