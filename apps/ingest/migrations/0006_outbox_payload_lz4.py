from django.db import migrations


class Migration(migrations.Migration):
    """Outbox payloads compressed with lz4, which costs the database less than writing
    them whole (pglz, skipped by 0002, cost more than it saved)."""

    dependencies = [("ingest", "0005_outbox_received_at")]

    operations = [
        migrations.RunSQL(
            "ALTER TABLE ingest_outboxbatch ALTER COLUMN payload SET STORAGE EXTENDED, "
            "ALTER COLUMN payload SET COMPRESSION lz4",
            "ALTER TABLE ingest_outboxbatch ALTER COLUMN payload SET STORAGE EXTERNAL, "
            "ALTER COLUMN payload SET COMPRESSION default",
        )
    ]
