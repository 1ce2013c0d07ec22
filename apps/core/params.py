"""Query-string input serializers: a parameter is there, with a value, or not at all."""

from rest_framework import serializers

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
