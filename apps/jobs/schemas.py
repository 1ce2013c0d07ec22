from pydantic import Field

from apps.ingest.fields import LongText, PositiveInt, Scrubbed, Text, WithExtraData

from .models import JobStatus


class JobOutcomeIn(WithExtraData):
    job_id: Text(255) = ""
    job_type: Text(255) = Field(min_length=1)
    device_id: Text(255) = ""
    status: JobStatus
    duration_ms: PositiveInt | None = None
    error_code: Text(100) = ""
    error_message: LongText = ""
    retry_count: PositiveInt = 0
    initiated_by: Scrubbed(255) = ""
