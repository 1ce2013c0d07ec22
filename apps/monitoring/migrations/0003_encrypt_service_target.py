"""Monitored services' targets encrypted at rest (apps/core/secrets.py)."""

from django.db import migrations

import apps.core.secrets
from apps.core.secrets import decrypt

BATCH = 500


def encrypt_targets(apps, schema_editor):
    service_model = apps.get_model("monitoring", "MonitoredService")
    last = 0
    while True:
        rows = list(
            service_model.objects.filter(pk__gt=last)
            .order_by("pk")
            .values_list("pk", "target")[:BATCH]
        )
        if not rows:
            return
        for pk, target in rows:
            # Read back clear (no prefix yet), written encrypted by the field.
            service_model.objects.filter(pk=pk).update(target=target)
        last = rows[-1][0]


def decrypt_targets(apps, schema_editor):
    """Back to clear text (the field encrypts whatever it writes: raw SQL here)."""
    table = apps.get_model("monitoring", "MonitoredService")._meta.db_table
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(f"SELECT id, target FROM {table}")
        for pk, target in cursor.fetchall():
            cursor.execute(f"UPDATE {table} SET target = %s WHERE id = %s", [decrypt(target), pk])


class Migration(migrations.Migration):
    dependencies = [
        ("monitoring", "0002_healthcheck_checked_at_index"),
    ]

    operations = [
        migrations.AlterField(
            model_name="monitoredservice",
            name="target",
            field=apps.core.secrets.EncryptedTextField(
                blank=True,
                help_text="A URL (http), host:port (tcp), a function name.",
                max_length=2000,
            ),
        ),
        migrations.RunPython(encrypt_targets, decrypt_targets),
    ]
