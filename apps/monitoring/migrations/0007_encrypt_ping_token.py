"""Heartbeats' ping tokens encrypted at rest, found by their digest (apps/core/secrets.py)."""

from django.db import migrations, models

import apps.core.secrets
import apps.monitoring.models
from apps.core.secrets import decrypt, lookup_digest

BATCH = 500


def encrypt_tokens(apps, schema_editor):
    service_model = apps.get_model("monitoring", "MonitoredService")
    last = 0
    while True:
        rows = list(
            service_model.objects.filter(pk__gt=last)
            .order_by("pk")
            .values_list("pk", "ping_token")[:BATCH]
        )
        if not rows:
            return
        for pk, token in rows:
            # Read back clear (no prefix yet), written encrypted by the field.
            service_model.objects.filter(pk=pk).update(
                ping_token=token, ping_digest=lookup_digest(token)
            )
        last = rows[-1][0]


def decrypt_tokens(apps, schema_editor):
    """Back to clear text (the field encrypts whatever it writes: raw SQL here)."""
    table = apps.get_model("monitoring", "MonitoredService")._meta.db_table
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(f"SELECT id, ping_token FROM {table}")
        for pk, token in cursor.fetchall():
            cursor.execute(
                f"UPDATE {table} SET ping_token = %s WHERE id = %s", [decrypt(token), pk]
            )


class Migration(migrations.Migration):
    dependencies = [
        ("monitoring", "0006_healthcheck_covering_index"),
    ]

    operations = [
        migrations.AddField(
            model_name="monitoredservice",
            name="ping_digest",
            field=models.CharField(editable=False, max_length=64, null=True),
        ),
        migrations.AlterField(
            model_name="monitoredservice",
            name="ping_token",
            field=apps.core.secrets.EncryptedTextField(
                default=apps.monitoring.models.new_ping_token, max_length=64
            ),
        ),
        migrations.RunPython(encrypt_tokens, decrypt_tokens),
        migrations.AlterField(
            model_name="monitoredservice",
            name="ping_digest",
            field=models.CharField(editable=False, max_length=64, unique=True),
        ),
    ]
