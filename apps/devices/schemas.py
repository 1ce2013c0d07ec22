import math
from typing import Annotated

from pydantic import Field, PlainValidator, StringConstraints

from apps.ingest.fields import ItemSchema, Secretless, Text, scrub_text

MAX_METRICS = 100
MAX_METRIC_TEXT = 200
_INT64 = (-(2**63), 2**63 - 1)


def _metric_value(value):
    """number (finite, 64-bit if integral) | bool | string; one clear error otherwise."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        if not _INT64[0] <= value <= _INT64[1]:
            raise ValueError("integer outside the signed 64-bit range")
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError("number must be finite")
        return value
    if isinstance(value, str):
        if len(value) > MAX_METRIC_TEXT:
            raise ValueError(f"string longer than {MAX_METRIC_TEXT} characters")
        return scrub_text(value)
    raise ValueError("must be a number, a string or a boolean")


MetricName = Annotated[str, StringConstraints(min_length=1, max_length=100)]
MetricValue = Annotated[
    bool | int | float | str,
    PlainValidator(_metric_value, json_schema_input_type=bool | int | float | str),
]


class DeviceStateChangeIn(ItemSchema):
    device_id: Text(255) = Field(min_length=1)
    previous_state: Text(100) = ""
    new_state: Text(100) = Field(min_length=1)
    changed_by: Text(255) = "system"
    reason: Text(1000) = ""
    extra_data: Secretless = Field(default_factory=dict)


class DeviceMetricsIn(ItemSchema):
    """One metrics point of a device; the Smart Data Filter decides whether it is stored."""

    device_id: Text(255) = Field(min_length=1)
    metrics: dict[MetricName, MetricValue] = Field(max_length=MAX_METRICS)


def enrich_device_metric(row: dict, request) -> None:
    # The metrics endpoint overwrites this with the filter's decision; an item
    # that reaches the pipeline another way (the mixed /batch endpoint) is
    # stored as "unfiltered" rather than parked by the NOT NULL column.
    row.setdefault("stored_reason", "unfiltered")
