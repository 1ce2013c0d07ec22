from pydantic import Field

from apps.ingest.fields import ItemSchema, LongText, Secretless, Text

from .models import ErrorCategory, Severity


class ErrorIn(ItemSchema):
    category: ErrorCategory
    severity: Severity = Severity.ERROR
    error_message: LongText = Field(min_length=1)
    error_code: Text(100) = ""
    endpoint: Text(500) = ""
    user_id: Text(255) = ""
    device_id: Text(255) = ""
    stack_trace: LongText = ""
    context: Secretless = Field(default_factory=dict)
