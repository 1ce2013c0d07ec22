"""Device state changes and device metrics partitioned by week, converted in place (apps/ingest/partitions.py, `table_partition`)."""

from django.db import migrations

from apps.ingest.partitions import partitioning_operations


class Migration(migrations.Migration):
    atomic = False  # builds indexes concurrently

    dependencies = [
        ("ingest", "0003_dedupe_keys"),
        ("devices", "0002_devicemetric"),
    ]

    operations = partitioning_operations("devices", {"device_state": "DeviceStateHistory", "device_metric": "DeviceMetric"})
