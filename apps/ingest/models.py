import uuid

from django.db import models
from psqlextra.models.options import PostgresPartitionedModelOptions
from psqlextra.types import PostgresPartitioningMethod


def range_partitioned(column: str) -> PostgresPartitionedModelOptions:
    # What django-postgres-extra's partitioning reads off a model. Given as an attribute
    # rather than by its model base, which on Django 5.2 makes the primary key composite
    # (id, timestamp): the admin and every `pk` lookup need `id` alone.
    return PostgresPartitionedModelOptions(method=PostgresPartitioningMethod.RANGE, key=[column])


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
    # The request's receive time, once: an item whose received_at is this one is written
    # without it, and without its timestamp when that is the same (no timestamp was
    # sent). A third of the bytes of a small item, and the two most costly of its fields
    # for the database to parse; the drain puts them back. Null on rows written before.
    received_at = models.DateTimeField(null=True, blank=True)
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


class PartitionedRecord(IngestedRecord):
    """An ingested kind whose table is range-partitioned by `timestamp`, a day (or a week)
    a partition (apps/ingest/partitions.py): retention drops whole partitions. PostgreSQL
    cannot keep `event_id` unique across partitions, so a retry is recognised by EventKey
    instead."""

    event_id = models.UUIDField(default=uuid.uuid4, editable=False)

    partition_period = "day"  # or "week", for a kind written seldom

    _partitioning_meta = range_partitioned("timestamp")

    class Meta(IngestedRecord.Meta):
        abstract = True


class EventKey(models.Model):
    """The event_ids of the partitioned kinds' stored rows, a week a partition: what makes
    a retry stored once whatever day it lands on (the dedupe window, 7 to 14 days)."""

    pk = models.CompositePrimaryKey("kind", "event_id", "generation")
    kind = models.CharField(max_length=64)
    event_id = models.UUIDField()
    # The week it was stored in (DedupeGeneration when it was): its partition.
    generation = models.DateField()

    _partitioning_meta = range_partitioned("generation")

    def __str__(self) -> str:
        return f"{self.kind} {self.event_id} ({self.generation})"


class DedupeGeneration(models.Model):
    """One row: the week whose EventKey partition new keys go to. Moved on by
    `partitions_maintain` under an exclusive lock, so every key of the weeks before is
    committed when a statement first checks them."""

    generation = models.DateField()

    def __str__(self) -> str:
        return f"new keys go to the week of {self.generation}"
