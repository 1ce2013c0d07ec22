from django.db import models

from apps.ingest.models import PartitionedRecord


class DeviceStateHistory(PartitionedRecord):
    """A device moved from one state to another, and who or what moved it."""

    partition_period = "week"  # written seldom: a week a partition

    device_id = models.CharField(max_length=255)
    previous_state = models.CharField(max_length=100, blank=True, default="")
    new_state = models.CharField(max_length=100)
    changed_by = models.CharField(max_length=255, blank=True, default="system")
    reason = models.CharField(max_length=1000, blank=True, default="")
    extra_data = models.JSONField(default=dict, blank=True)

    class Meta(PartitionedRecord.Meta):
        verbose_name = "device state change"
        verbose_name_plural = "device state history"
        indexes = [
            models.Index(fields=["timestamp"], name="devstate_ts"),  # retention
            # device-state-history/{device_id}: window plus the last change before it.
            models.Index(fields=["device_id", "timestamp"], name="devstate_device_ts"),
        ]


class StoredReason(models.TextChoices):
    """Why the Smart Data Filter let a metrics point into the table."""

    FIRST = "first", "first contact"
    CHANGED = "changed", "significant change"
    SNAPSHOT = "snapshot", "snapshot interval"
    FILTER_UNAVAILABLE = "filter_unavailable", "filter unavailable"
    # Came through the mixed /batch endpoint, which does not run the filter.
    UNFILTERED = "unfiltered", "not filtered"


class DeviceMetric(PartitionedRecord):
    """A device metrics point the Smart Data Filter kept (first, changed or snapshot)."""

    partition_period = "week"  # written seldom: a week a partition

    device_id = models.CharField(max_length=255)
    metrics = models.JSONField(default=dict, blank=True)  # {name: number | string | bool}
    stored_reason = models.CharField(max_length=32, choices=StoredReason.choices)

    class Meta(PartitionedRecord.Meta):
        verbose_name = "device metrics point"
        verbose_name_plural = "device metrics"
        indexes = [
            models.Index(fields=["timestamp"], name="devmetric_ts"),  # retention
            # The filter's state rebuild: latest stored point of a device.
            models.Index(fields=["device_id", "timestamp"], name="devmetric_device_ts"),
        ]
