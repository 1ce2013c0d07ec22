"""JSON `true` is not 1 and not a UUID: DRF's FloatField reads it as 1.0 and its
UUIDField as UUID(int=1); ingest refuses it (apps.ingest.fields.NotBool), and so do the
configuration bodies through this mixin."""

from rest_framework import serializers
from rest_framework.relations import ManyRelatedField, RelatedField

# Fields that would turn a boolean into a value (IntegerField, DecimalField and
# CharField already refuse one; listed so a later DRF change cannot let it through).
VALUE_FIELDS = (
    serializers.FloatField,
    serializers.IntegerField,
    serializers.DecimalField,
    serializers.UUIDField,
    RelatedField,  # a primary key `true` would name row 1
)
MESSAGE = "Must not be a boolean."


def _takes_no_boolean(field: serializers.Field) -> bool:
    if isinstance(field, ManyRelatedField):
        return True
    if isinstance(field, serializers.ListField):
        return isinstance(field.child, VALUE_FIELDS)
    return isinstance(field, VALUE_FIELDS)


class BooleansAreNotValuesMixin:
    """Refuses a boolean sent for a number, UUID or related field, and a number sent for
    a UUID (400 naming the field)."""

    def to_internal_value(self, data):
        if isinstance(data, dict):
            errors = {}
            for name, field in self.fields.items():
                value = data.get(name)
                if field.read_only or not _takes_no_boolean(field):
                    continue
                items = value if isinstance(value, list) else [value]
                if any(isinstance(item, bool) for item in items):
                    errors[name] = [MESSAGE]
                elif isinstance(field, serializers.UUIDField) and isinstance(value, int | float):
                    # DRF reads 1 as UUID(int=1); ingest (pydantic) takes a UUID string only.
                    errors[name] = ["Must be a UUID string."]
            if errors:
                raise serializers.ValidationError(errors)
        return super().to_internal_value(data)
