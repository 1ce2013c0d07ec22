from django.contrib import admin

from .models import OutboxBatch
from .outbox import outbox_retry


@admin.register(OutboxBatch)
class OutboxBatchAdmin(admin.ModelAdmin):
    """Batches not yet in their tables: normally empty; failed ones wait here for triage."""

    list_display = ["id", "kind", "item_count", "created_at", "enqueued_at", "failed_at"]
    list_filter = ["kind", ("failed_at", admin.EmptyFieldListFilter)]
    readonly_fields = [f.name for f in OutboxBatch._meta.fields]
    actions = ["requeue"]

    def has_add_permission(self, request) -> bool:
        return False

    @admin.action(description="Retry selected batches now")
    def requeue(self, request, queryset):
        retried = outbox_retry(ids=list(queryset.values_list("id", flat=True)))
        self.message_user(request, f"{retried} batch(es) queued.")
