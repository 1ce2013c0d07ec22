import uuid

from django.db import models


class IngestedRecord(models.Model):
    """Columns every ingested kind has: idempotency key, event time, arrival time."""

    event_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    timestamp = models.DateTimeField()
    received_at = models.DateTimeField()

    class Meta:
        abstract = True
        ordering = ["-timestamp"]
        get_latest_by = "timestamp"
