from typing import Literal

from pydantic import Field

from apps.ingest.fields import (
    HttpStatus,
    IPAddress,
    ItemSchema,
    LongText,
    Milliseconds,
    PositiveInt,
    Scrubbed,
    Text,
)

Method = Literal["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "TRACE", "CONNECT"]


class RequestLogIn(ItemSchema):
    """A request log line shipped by another service (or written by our middleware)."""

    service: Text(100) = ""
    endpoint: Scrubbed(500) = Field(min_length=1)
    route: Scrubbed(500) = Field(
        default="",
        description="The URL pattern that served the request, e.g. /items/{id}; metric "
        "points are tagged with it instead of the endpoint when given.",
    )
    method: Method
    status_code: HttpStatus
    response_time_ms: Milliseconds
    user_id: Text(255) = ""
    api_key_prefix: Text(16) = ""
    client_ip: IPAddress = None
    user_agent: Scrubbed(500) = ""
    request_size: PositiveInt = 0
    response_size: PositiveInt = 0
    error_message: LongText = ""
    request_id: Text(64) = ""
