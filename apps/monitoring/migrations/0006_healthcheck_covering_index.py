"""The (service, -checked_at) index of the checks covers what the uptime reads use
(status, response time, ping): built before the old one is dropped, both without
blocking the checks being written (CONCURRENTLY, hence not atomic)."""

from django.contrib.postgres.operations import AddIndexConcurrently, RemoveIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("monitoring", "0005_service_public_and_check_ping"),
    ]

    operations = [
        AddIndexConcurrently(
            model_name="healthcheck",
            index=models.Index(
                fields=["service", "-checked_at"],
                include=("status", "response_time_ms", "ping"),
                name="healthcheck_service_recent",
            ),
        ),
        RemoveIndexConcurrently(
            model_name="healthcheck",
            name="monitoring__service_3872c3_idx",
        ),
    ]
