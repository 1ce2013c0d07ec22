"""postgres and redis check types; a service's health_key (listed by GET /health)."""

from django.db import migrations, models

import apps.monitoring.models


class Migration(migrations.Migration):
    dependencies = [
        ("monitoring", "0003_encrypt_service_target"),
    ]

    operations = [
        migrations.AlterField(
            model_name="monitoredservice",
            name="check_type",
            field=models.CharField(
                choices=[
                    ("http", "Http"),
                    ("tcp", "Tcp"),
                    ("postgres", "postgres (a postgres:// URL; SELECT 1)"),
                    ("redis", "redis (a redis:// URL; PING)"),
                    ("heartbeat", "Heartbeat"),
                    ("custom", "custom (a function registered in code)"),
                ],
                max_length=10,
            ),
        ),
        migrations.AddField(
            model_name="monitoredservice",
            name="health_key",
            field=models.SlugField(
                blank=True,
                default="",
                help_text=(
                    "Set to list this service in GET /api/v1/analytics/health under "
                    "services.<key> (true while it is up), e.g. ollama. Blank: not listed. "
                    "Unique."
                ),
                validators=[apps.monitoring.models.validate_health_key],
            ),
        ),
        migrations.AddConstraint(
            model_name="monitoredservice",
            constraint=models.UniqueConstraint(
                condition=models.Q(("health_key", ""), _negated=True),
                fields=("health_key",),
                name="monitoredservice_health_key_unique",
                violation_error_message="Another service already has this health_key.",
            ),
        ),
    ]
