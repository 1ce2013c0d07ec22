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


class OutboxBatch(models.Model):
    """Accepted items waiting to become typed rows: one row per accepted request and kind.

    A 202 means the batch is committed here; the ingest task turns it into rows
    and deletes it in one transaction, and the sweeper re-queues forgotten ones.
    """

    kind = models.CharField(max_length=64)
    # json, not jsonb: written once and read once, so skip jsonb's parse-and-rebuild
    # (measured ~5 us/item cheaper on the web's insert).
    payload = models.TextField()
    item_count = models.PositiveIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)
    # When a task for it was last queued; the sweeper serves rows whose task got lost.
    enqueued_at = models.DateTimeField(auto_now_add=True, db_index=True)
    # Set when the database refused the batch (it would fail again): kept for triage.
    failed_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True, default="", db_default="")

    class Meta:
        verbose_name = "outbox batch"
        verbose_name_plural = "outbox batches"

    def __str__(self) -> str:
        return f"{self.kind} batch #{self.pk} ({self.item_count} items)"
