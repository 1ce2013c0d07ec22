from pydantic import Field

from apps.ingest.fields import ItemSchema, Secretless, Text


class DeviceStateChangeIn(ItemSchema):
    device_id: Text(255) = Field(min_length=1)
    previous_state: Text(100) = ""
    new_state: Text(100) = Field(min_length=1)
    changed_by: Text(255) = "system"
    reason: Text(1000) = ""
    extra_data: Secretless = Field(default_factory=dict)
