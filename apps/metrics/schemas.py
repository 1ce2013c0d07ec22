import hashlib
import re
from functools import lru_cache
from typing import Annotated

import orjson
from pydantic import (
    AfterValidator,
    AliasChoices,
    Field,
    StringConstraints,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
)

from apps.ingest.fields import MAX_ABS_NUMBER, ItemSchema, Milliseconds, NotBool, Text
from apps.ingest.privacy import REDACTED, is_secret_key, scrub_text

from .models import DirtyMinute, MetricSeries, MetricTagKey, MetricType

# Matched whole (fullmatch): `$` alone would let a trailing newline through.
NAME_PATTERN = re.compile(r"[A-Za-z_:][A-Za-z0-9_:.\-]{0,199}")
LABEL_PATTERN = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]{0,99}")
MAX_LABELS = 20
MAX_TAG_VALUE = 200
MAX_SOURCE = 100


def tags_hash(tags: dict[str, str]) -> int:
    """A stable signed 64-bit id of a label set; 0 is reserved for 'all series'."""
    digest = hashlib.blake2b(orjson.dumps(tags, option=orjson.OPT_SORT_KEYS), digest_size=8)
    value = int.from_bytes(digest.digest(), "big", signed=True)
    return value or 1


def _check_name(name: str) -> str:
    if not NAME_PATTERN.fullmatch(name):
        raise ValueError(
            "must start with a letter, _ or :, then letters, digits, _ : . - (max 200)"
        )
    return name


MetricName = Annotated[
    str,
    AfterValidator(_check_name),
    WithJsonSchema({"type": "string", "pattern": f"^{NAME_PATTERN.pattern}$", "maxLength": 200}),
]


@lru_cache(maxsize=16_384)  # labels and sources repeat; both are short (checked first)
def _scrubbed(text: str, max_length: int) -> str:
    # A redaction can be longer than the secret it hides; the column still holds it.
    return scrub_text(text)[:max_length]


def clean_tags(raw: dict) -> dict[str, str]:
    """Label values become strings (Prometheus labels are strings); secrets are never stored.

    The value of a secret-looking tag (`token`, `password`, `api_key` ...) is
    replaced by REDACTED, and credentials inside any value (a URL with a
    password, a bearer token) are redacted in place, so the label set (and
    its series) is the same whatever secret was sent.
    """
    if len(raw) > MAX_LABELS:
        raise ValueError(f"at most {MAX_LABELS} tags")
    tags = {}
    for key, value in raw.items():
        if not LABEL_PATTERN.fullmatch(key):
            raise ValueError(f"tag name {key!r} must match ^{LABEL_PATTERN.pattern}$")
        if isinstance(value, bool):
            value = "true" if value else "false"
        if not isinstance(value, str | int | float):
            raise ValueError(f"tag {key!r} must be a string or number")
        text = str(value)
        if len(text) > MAX_TAG_VALUE:
            raise ValueError(f"tag {key!r} is longer than {MAX_TAG_VALUE} characters")
        tags[key] = REDACTED if _is_secret_label(key) else _scrubbed(text, MAX_TAG_VALUE)
    return tags


@lru_cache(maxsize=1024)
def _is_secret_label(key: str) -> bool:
    return is_secret_key(key)


Source = Annotated[
    str,
    StringConstraints(max_length=MAX_SOURCE),
    AfterValidator(lambda text: _scrubbed(text, MAX_SOURCE)),
]


class MetricIn(ItemSchema):
    """POST /analytics/metrics/record: the replaced system's body; `labels` means `tags`."""

    metric_name: MetricName
    # Before `value`, so the value check below sees them.
    metric_type: MetricType = MetricType.GAUGE
    duration_ms: Milliseconds | None = Field(
        default=None,
        exclude=True,  # it is stored as `value`
        description="A timer's value under the old record_timer's name: stands for `value` "
        "(both sent and different: refused).",
    )
    value: (
        Annotated[
            float,
            NotBool,
            Field(allow_inf_nan=False, ge=-MAX_ABS_NUMBER, le=MAX_ABS_NUMBER),
        ]
        | None
    ) = Field(
        default=None,
        validate_default=True,  # so a missing value still reaches the check below
        description=f"Finite, within -{MAX_ABS_NUMBER:g}..{MAX_ABS_NUMBER:g} (so no sum over "
        "points can overflow); a counter's increment is >= 0. Without it a counter counts 1 "
        "(the old increment_counter sent none) and a timer takes `duration_ms`; any other "
        "metric needs it.",
    )
    unit: Text(32) = ""
    tags: dict = Field(
        default_factory=dict,
        validation_alias=AliasChoices("tags", "labels"),
        description=f"At most {MAX_LABELS} labels, string or number values of at most "
        f"{MAX_TAG_VALUE} characters. Values of secret-looking labels (token, password, "
        "api_key ...) and credentials inside values are stored as [redacted].",
        json_schema_extra={
            "maxProperties": MAX_LABELS,
            "propertyNames": {"pattern": f"^{LABEL_PATTERN.pattern}$"},
            "additionalProperties": {
                "type": ["string", "number", "boolean"],
                "maxLength": MAX_TAG_VALUE,
            },
        },
    )
    source: Source = Field(default="", description="Credentials inside it are redacted.")

    @field_validator("value")
    @classmethod
    def _value(cls, value: float | None, info: ValidationInfo) -> float:
        duration = info.data.get("duration_ms")
        if value is None:
            value = duration
        elif duration is not None and duration != value:
            raise ValueError("value and duration_ms differ: send one of them")
        counter = info.data.get("metric_type") == MetricType.COUNTER
        if value is None:
            if counter:
                return 1.0
            if "duration_ms" not in info.data:  # sent, but invalid: that error says it
                return 0.0
            raise ValueError(
                "Field required (a counter may omit it; a timer may send duration_ms instead)"
            )
        if counter and value < 0:
            raise ValueError("a counter's increment cannot be negative")
        return value

    @field_validator("tags")
    @classmethod
    def _tags(cls, value: dict) -> dict[str, str]:
        return clean_tags(value)


def enrich_metric(row: dict, request) -> None:
    row["tags_hash"] = tags_hash(row["tags"])


_TYPES = frozenset(MetricType.values)
_GAUGE, _COUNTER = MetricType.GAUGE.value, MetricType.COUNTER.value
_POINT_FIELDS = frozenset(
    ("event_id", "timestamp", "metric_name", "metric_type", "value", "unit", "tags", "source")
)


def trusted_point(item: dict) -> dict:
    """The row MetricIn and enrich_metric make of a point built by trusted code (another
    kind's derive: apps.ingest.outbox), without pydantic: ~2 us a point against ~25.
    ValueError where the schema would refuse the point; timestamp and event_id are the
    outbox's. Label sets repeat: each is cleaned and hashed once (_label_set)."""
    if not _POINT_FIELDS.issuperset(item):
        raise ValueError(f"unknown fields {sorted(set(item) - _POINT_FIELDS)}")
    name = item["metric_name"]
    if not isinstance(name, str) or not _known_name(name):
        raise ValueError(f"metric_name {name!r} is not a metric name")
    metric_type = item.get("metric_type") or _GAUGE
    if metric_type not in _TYPES:
        raise ValueError(f"metric_type {metric_type!r} is not one of {sorted(_TYPES)}")
    counter = metric_type == _COUNTER
    value = item.get("value")
    if value is None:
        if not counter:
            raise ValueError("value: Field required")
        value = 1.0
    if value.__class__ is bool or not isinstance(value, (int, float)):
        raise ValueError("value must be a number")
    value = float(value)
    if not -MAX_ABS_NUMBER <= value <= MAX_ABS_NUMBER:  # NaN fails both comparisons
        raise ValueError(f"value {value!r} is not finite within {MAX_ABS_NUMBER:g}")
    if counter and value < 0:
        raise ValueError("a counter's increment cannot be negative")
    unit = item.get("unit") or ""
    source = item.get("source") or ""
    if not isinstance(unit, str) or len(unit) > 32:
        raise ValueError("unit is a string of at most 32 characters")
    if not isinstance(source, str) or len(source) > MAX_SOURCE:
        raise ValueError(f"source is a string of at most {MAX_SOURCE} characters")
    raw = item.get("tags") or {}
    if not isinstance(raw, dict):
        raise ValueError("tags must be an object")
    try:  # the class is in the key: True, 1 and 1.0 are equal keys but different labels
        tags, hashed = _label_set(tuple((k, v.__class__, v) for k, v in raw.items()))
    except TypeError:  # an unhashable value: clean_tags says why it is refused
        tags, hashed = _label_set_of(raw)
    return {
        "event_id": item.get("event_id"),
        "timestamp": item.get("timestamp"),
        "metric_name": name,
        "metric_type": metric_type,
        "value": value,
        "unit": unit,
        "tags": tags,
        "tags_hash": hashed,
        "source": _scrubbed(source, MAX_SOURCE),
    }


@lru_cache(maxsize=1024)
def _known_name(name: str) -> bool:
    return NAME_PATTERN.fullmatch(name) is not None


@lru_cache(maxsize=16_384)
def _label_set(key: tuple) -> tuple[dict[str, str], int]:
    return _label_set_of({k: v for k, _, v in key})


def _label_set_of(raw: dict) -> tuple[dict[str, str], int]:
    tags = clean_tags(raw)
    return tags, tags_hash(tags)


# Run in the statement that inserts points: register new series (and the tag keys of
# those, from derived_0: statement i's RETURNING rows, apps.ingest.outbox) and mark
# the minutes whose rollups are now stale.
AFTER_INSERT = (
    f"""INSERT INTO {MetricSeries._meta.db_table} (metric_name, tags_hash, tags, metric_type, unit)
    SELECT DISTINCT ON (metric_name, tags_hash) metric_name, tags_hash, tags, metric_type, unit
    FROM inserted
    ON CONFLICT (metric_name, tags_hash) DO NOTHING
    RETURNING metric_name, tags""",
    f"""INSERT INTO {DirtyMinute._meta.db_table} (metric_name, bucket_start)
    SELECT DISTINCT metric_name, date_trunc('minute', "timestamp") FROM inserted""",
    f"""INSERT INTO {MetricTagKey._meta.db_table} (metric_name, tag_key)
    SELECT DISTINCT metric_name, jsonb_object_keys(tags) FROM derived_0
    ON CONFLICT (metric_name, tag_key) DO NOTHING""",
)
RETURNING = ("metric_name", "tags_hash", "tags", "metric_type", "unit", "timestamp")
