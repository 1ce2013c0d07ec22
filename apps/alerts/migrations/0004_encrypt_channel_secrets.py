"""Channel targets and secrets encrypted at rest; the configuration trail, rule
descriptions and silence comments written before free text was scrubbed are scrubbed,
and the trail's channel targets masked (apps/core/secrets.py, apps/ingest/privacy.py)."""

from django.db import migrations

import apps.core.secrets
from apps.core.secrets import decrypt, mask_credentials
from apps.ingest.privacy import scrub, scrub_text

BATCH = 500


def _each(queryset):
    last = 0
    while True:
        rows = list(queryset.filter(pk__gt=last).order_by("pk")[:BATCH])
        if not rows:
            return
        yield from rows
        last = rows[-1].pk


def encrypt_and_scrub(apps, schema_editor):
    channel_model = apps.get_model("alerts", "AlertChannel")
    for channel in _each(channel_model.objects.all()):
        # Read back clear (no prefix yet), written encrypted by the field.
        channel_model.objects.filter(pk=channel.pk).update(
            target=channel.target, secret=channel.secret
        )
    rule_model = apps.get_model("alerts", "AlertRule")
    for rule in _each(rule_model.objects.exclude(description="")):
        clean = scrub_text(rule.description)
        if clean != rule.description:
            rule_model.objects.filter(pk=rule.pk).update(description=clean)
    silence_model = apps.get_model("alerts", "Silence")
    for silence in _each(silence_model.objects.exclude(comment="")):
        clean = scrub_text(silence.comment)
        if clean != silence.comment:
            silence_model.objects.filter(pk=silence.pk).update(comment=clean)
    change_model = apps.get_model("alerts", "ConfigChange")
    for change in _each(change_model.objects.exclude(changes={})):
        changes = dict(change.changes)
        if isinstance(changes.get("target"), str):
            changes["target"] = mask_credentials(changes["target"])
        for field in ("description", "comment", "tags", "matchers"):
            if field in changes:
                changes[field] = scrub(changes[field])
        if changes != change.changes:
            change_model.objects.filter(pk=change.pk).update(changes=changes)


def decrypt_channels(apps, schema_editor):
    """Back to clear text (the field encrypts whatever it writes: raw SQL here)."""
    table = apps.get_model("alerts", "AlertChannel")._meta.db_table
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(f"SELECT id, target, secret FROM {table}")
        for pk, target, secret in cursor.fetchall():
            cursor.execute(
                f"UPDATE {table} SET target = %s, secret = %s WHERE id = %s",
                [decrypt(target), decrypt(secret), pk],
            )


class Migration(migrations.Migration):
    dependencies = [
        ("alerts", "0003_delivery_claim"),
    ]

    operations = [
        migrations.AlterField(
            model_name="alertchannel",
            name="target",
            field=apps.core.secrets.EncryptedTextField(
                help_text="An email address or a URL.", max_length=2000
            ),
        ),
        migrations.AlterField(
            model_name="alertchannel",
            name="secret",
            field=apps.core.secrets.EncryptedTextField(blank=True, max_length=200),
        ),
        migrations.RunPython(encrypt_and_scrub, decrypt_channels),
    ]
