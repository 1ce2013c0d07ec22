import hashlib
import re
from typing import Annotated

import orjson
from pydantic import AfterValidator, AliasChoices, Field, field_validator

from apps.ingest.fields import ItemSchema, Text

from .models import MetricType

NAME_PATTERN = re.compile(r"^[A-Za-z_:][A-Za-z0-9_:.\-]{0,199}$")
LABEL_PATTERN = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]{0,99}$")
MAX_LABELS = 20


def tags_hash(tags: dict[str, str]) -> int:
    """A stable signed 64-bit id of a label set; 0 is reserved for 'all series'."""
    digest = hashlib.blake2b(orjson.dumps(tags, option=orjson.OPT_SORT_KEYS), digest_size=8)
    value = int.from_bytes(digest.digest(), "big", signed=True)
    return value or 1


def _check_name(name: str) -> str:
    if not NAME_PATTERN.match(name):
        raise ValueError(
            "must start with a letter, _ or :, then letters, digits, _ : . - (max 200)"
        )
    return name


MetricName = Annotated[str, AfterValidator(_check_name)]


def clean_tags(raw: dict) -> dict[str, str]:
    """Label values become strings (Prometheus labels are strings); secrets are refused."""
    if len(raw) > MAX_LABELS:
        raise ValueError(f"at most {MAX_LABELS} tags")
    tags = {}
    for key, value in raw.items():
        if not LABEL_PATTERN.match(key):
            raise ValueError(f"tag name {key!r} must match {LABEL_PATTERN.pattern}")
        if isinstance(value, bool):
            value = "true" if value else "false"
        if not isinstance(value, str | int | float):
            raise ValueError(f"tag {key!r} must be a string or number")
        text = str(value)
        if len(text) > 200:
            raise ValueError(f"tag {key!r} is longer than 200 characters")
        tags[key] = text
    return tags


class MetricIn(ItemSchema):
    """POST /analytics/metrics/record: the seed-004 body; `labels` is accepted for `tags`."""

    metric_name: MetricName
    value: float = Field(allow_inf_nan=False)
    metric_type: MetricType = MetricType.GAUGE
    unit: Text(32) = ""
    tags: dict = Field(default_factory=dict, validation_alias=AliasChoices("tags", "labels"))
    source: Text(100) = ""

    @field_validator("tags")
    @classmethod
    def _tags(cls, value: dict) -> dict[str, str]:
        return clean_tags(value)


def enrich_metric(row: dict, request) -> None:
    row["tags_hash"] = tags_hash(row["tags"])


# Runs in the statement that inserts points: register new series and mark
# the minutes whose rollups are now stale.
AFTER_INSERT = """
, new_series AS (
    INSERT INTO metrics_metricseries (metric_name, tags_hash, tags, metric_type, unit)
    SELECT DISTINCT ON (metric_name, tags_hash) metric_name, tags_hash, tags, metric_type, unit
    FROM inserted
    ON CONFLICT (metric_name, tags_hash) DO NOTHING
)
INSERT INTO metrics_dirtyminute (metric_name, bucket_start)
SELECT DISTINCT metric_name, date_trunc('minute', "timestamp") FROM inserted
"""
RETURNING = ("metric_name", "tags_hash", "tags", "metric_type", "unit", "timestamp")
