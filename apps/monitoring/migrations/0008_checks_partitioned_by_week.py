"""Health checks partitioned by week, converted in place (apps/ingest/partitions.py, `table_partition`)."""

from django.db import migrations

from apps.ingest.partitions import partitioning_operations


class Migration(migrations.Migration):
    atomic = False  # builds indexes concurrently

    dependencies = [
        ("ingest", "0004_database_without_jit"),
        ("monitoring", "0007_encrypt_ping_token"),
    ]

    operations = partitioning_operations("monitoring", {"health_check": "HealthCheck"})
