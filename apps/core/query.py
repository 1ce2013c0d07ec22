"""Shared read-side helpers: bounded time windows and SQL aggregates."""

from datetime import datetime, timedelta

from django.db.models import Aggregate, FloatField
from django.utils import timezone
from rest_framework import serializers
from rest_framework.utils import html


class Percentile(Aggregate):
    """percentile_cont(fraction) WITHIN GROUP (ORDER BY expression)."""

    function = "percentile_cont"
    name = "Percentile"
    output_field = FloatField()
    template = "%(function)s(%(fraction)s) WITHIN GROUP (ORDER BY %(expressions)s)"

    def __init__(self, expression, fraction: float, **extra):
        if not 0 <= fraction <= 1:
            raise ValueError("fraction must be within 0..1")
        super().__init__(expression, fraction=float(fraction), **extra)


class StrictIntegerField(serializers.IntegerField):
    """An integer that is there or not: `?hours=` (present, empty) and booleans are
    errors, never the default."""

    def get_value(self, dictionary):
        if html.is_html_input(dictionary) and dictionary.get(self.field_name) == "":
            return ""  # DRF would hand an optional field's default instead
        return super().get_value(dictionary)

    def to_internal_value(self, data):
        if isinstance(data, bool) or data == "":
            self.fail("invalid")
        return super().to_internal_value(data)


def hours_query(max_hours: int = 168, default: int = 24, **extra_fields) -> type:
    """An input serializer for `?hours=` (bounded) plus optional string filters."""
    fields = {
        "hours": StrictIntegerField(
            min_value=1,
            max_value=max_hours,
            default=default,
            help_text=f"Window length in hours, 1-{max_hours}.",
        ),
        **extra_fields,
    }
    return type(f"Hours{max_hours}Query", (serializers.Serializer,), fields)


def window_start(hours: int, *, now: datetime | None = None) -> datetime:
    return (now or timezone.now()) - timedelta(hours=hours)


def ratio(part: float, whole: float) -> float:
    return round(part / whole, 4) if whole else 0.0


def rounded(value: float | None, digits: int = 2) -> float | None:
    return None if value is None else round(float(value), digits)
