"""Query-string input serializers: a parameter is there, with a value, or not at all."""

from rest_framework import serializers
from rest_framework.utils import html

EMPTY_MESSAGE = "May not be empty."


class NonEmptyQuery(serializers.Serializer):
    """Refuses a declared parameter given empty (`?job_type=`) with a 400 naming it.

    DRF reads an optional field's empty query value as absent, so `?job_type=`
    would quietly mean "every job type" and `?page_size=` the default; a client
    that meant to filter and built the URL wrong should hear about it.
    """

    def to_internal_value(self, data):
        if hasattr(data, "getlist"):
            empty = {name: [EMPTY_MESSAGE] for name in self.fields if "" in data.getlist(name)}
            if empty:
                raise serializers.ValidationError(empty)
        return super().to_internal_value(data)


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


def bounded_int(low: int, high: int, default: int | None, what: str) -> StrictIntegerField:
    """`?name=` between low and high, `default` when absent (None: optional, no default)."""
    extra = {"required": False} if default is None else {"default": default}
    return StrictIntegerField(
        min_value=low, max_value=high, help_text=f"{what}, {low}-{high}.", **extra
    )


def hours_query(max_hours: int = 168, default: int = 24, **extra_fields) -> type:
    """An input serializer for `?hours=` (bounded) plus optional filters, none given empty."""
    fields = {
        "hours": StrictIntegerField(
            min_value=1,
            max_value=max_hours,
            default=default,
            help_text=f"Window length in hours, 1-{max_hours}.",
        ),
        **extra_fields,
    }
    return type(f"Hours{max_hours}Query", (NonEmptyQuery,), fields)


def listed_params(query_params, *, lists: tuple[str, ...], singles: tuple[str, ...]) -> dict:
    """The query as a serializer's data: each of `lists` as a list, written
    `?status=a,b` or `?status=a&status=b` alike; each of `singles` as sent."""
    data: dict = {}
    for name in lists:
        values = [v for raw in query_params.getlist(name) for v in raw.split(",")]
        if values:
            data[name] = values
    for name in singles:
        if name in query_params:
            data[name] = query_params[name]
    return data
