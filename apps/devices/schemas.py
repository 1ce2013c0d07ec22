import math
from typing import Annotated

from pydantic import Field, PlainValidator, StringConstraints, field_validator

from apps.ingest.fields import MAX_ABS_NUMBER, ItemSchema, Scrubbed, Text, WithExtraData
from apps.ingest.privacy import REDACTED, is_secret_key, scrub_text

MAX_METRICS = 100
MAX_METRIC_TEXT = 200


def _metric_value(value):
    """number (finite, within +/-1e18) | bool | string; one clear error otherwise."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        if not math.isfinite(value):
            raise ValueError("number must be finite")
        if abs(value) > MAX_ABS_NUMBER:
            raise ValueError(f"number outside -{MAX_ABS_NUMBER:g}..{MAX_ABS_NUMBER:g}")
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


class DeviceStateChangeIn(WithExtraData):
    device_id: Text(255) = Field(min_length=1)
    previous_state: Text(100) = ""
    new_state: Text(100) = Field(min_length=1)
    changed_by: Scrubbed(255) = "system"
    reason: Scrubbed(1000) = ""


class DeviceMetricsIn(ItemSchema):
    """One metrics point of a device; the Smart Data Filter decides whether it is stored."""

    device_id: Text(255) = Field(min_length=1)
    metrics: dict[MetricName, MetricValue] = Field(max_length=MAX_METRICS)

    @field_validator("metrics")
    @classmethod
    def _no_secrets(cls, metrics: dict) -> dict:
        # A "metric" named like a credential (api_key, token) is kept, its value is not.
        return {k: REDACTED if is_secret_key(k) else v for k, v in metrics.items()}


def enrich_device_metric(row: dict, request) -> None:
    # The metrics endpoint overwrites this with the filter's decision; an item
    # that reaches the pipeline another way (the mixed /batch endpoint) is
    # stored as "unfiltered" rather than parked by the NOT NULL column.
    row.setdefault("stored_reason", "unfiltered")
