"""OTLP attributes (KeyValue / AnyValue) as plain values, and as metric tags."""

import re
from collections.abc import Iterable
from functools import lru_cache

import orjson
from django.conf import settings

from apps.metrics.schemas import MAX_LABELS, MAX_TAG_VALUE

# What the specification says a resource without service.name is called.
UNKNOWN_SERVICE = "unknown_service"
_NOT_LABEL = re.compile(r"[^A-Za-z0-9_.\-]")
_MAX_DEPTH = 16


def any_value(value, depth: int = 0):
    """An AnyValue as JSON-ready Python: str, bool, int, float, bytes as hex, list, dict."""
    which = value.WhichOneof("value")
    if which is None:
        return None
    if which == "array_value":
        if depth >= _MAX_DEPTH:
            return "[...]"
        return [any_value(item, depth + 1) for item in value.array_value.values]
    if which == "kvlist_value":
        if depth >= _MAX_DEPTH:
            return "{...}"
        return attributes(value.kvlist_value.values, depth + 1)
    if which == "bytes_value":
        return value.bytes_value.hex()
    return getattr(value, which)


def attributes(pairs: Iterable, depth: int = 0) -> dict:
    """KeyValue pairs as a dict (the last of a repeated key wins)."""
    return {pair.key: any_value(pair.value, depth) for pair in pairs}


def service_name(resource: dict) -> str:
    name = resource.get("service.name")
    return str(name) if name not in (None, "") else UNKNOWN_SERVICE


@lru_cache(maxsize=4096)  # attribute keys repeat in every point
def _label(key: str) -> str:
    """A tag name the metric store accepts: characters it refuses become `_`."""
    label = _NOT_LABEL.sub("_", key)[:100]
    if not label or not (label[0].isalpha() or label[0] == "_"):
        label = f"_{label}"[:100]
    return label


def _tag_value(value) -> str:
    if isinstance(value, str):
        return value[:MAX_TAG_VALUE]
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, str | int | float):
        text = str(value)
    else:
        text = orjson.dumps(value).decode()
    return text[:MAX_TAG_VALUE]


def _kept_resource_key(key: str) -> bool:
    return not any(key.startswith(prefix) for prefix in settings.OTLP_RESOURCE_TAGS_IGNORED)


class MetricTags:
    """A resource's data points' tags: `service.name` always, then the point's attributes,
    then the resource's (minus OTLP_RESOURCE_TAGS_IGNORED prefixes: per-process ids would
    make a new series at every restart), at most MAX_LABELS (the rest is left out, in that
    order). The resource's part is worked out once for all its points."""

    def __init__(self, resource: dict):
        self.service = {"service.name": service_name(resource)}
        self.resource = [
            (_label(key), _tag_value(value))
            for key, value in sorted(resource.items())
            if value is not None and _kept_resource_key(key)
        ]

    def __call__(self, point: dict) -> dict[str, str]:
        tags = dict(self.service)
        for source in (((_label(k), v) for k, v in sorted(point.items())), self.resource):
            for label, value in source:
                if value is None or label in tags:
                    continue
                if len(tags) >= MAX_LABELS:
                    return tags
                tags[label] = value if isinstance(value, str) else _tag_value(value)
        return tags
