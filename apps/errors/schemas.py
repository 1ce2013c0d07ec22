from typing import Any

from pydantic import Field, model_validator

from apps.ingest.fields import ItemSchema, LongText, Scrubbed, Secretless, Text

from .models import ErrorCategory, Severity


class ErrorIn(ItemSchema):
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
