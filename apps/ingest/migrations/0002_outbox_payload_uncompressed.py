from django.db import migrations


class Migration(migrations.Migration):
    """Outbox payloads live for milliseconds: skip TOAST's pglz compression on write and read."""

    dependencies = [("ingest", "0001_initial")]

    operations = [
        migrations.RunSQL(
            "ALTER TABLE ingest_outboxbatch ALTER COLUMN payload SET STORAGE EXTERNAL",
            "ALTER TABLE ingest_outboxbatch ALTER COLUMN payload SET STORAGE EXTENDED",
        )
    ]
