from django.contrib import admin
from django.db.models import F, Func, IntegerField

from apps.core.admin import ReadOnlyAdmin, RecordAdmin

from .models import (
    DirtyMinute,
    MetricPoint,
    MetricRollup,
    MetricSeries,
    PointBlock,
    RollupBlock,
    RollupFailure,
)
from .rollups import rollup_retry


@admin.register(MetricPoint)
class MetricEventAdmin(RecordAdmin):
    """The metrics browser: points by name, type and tags (search `key:value` or a value)."""

    list_display = ["timestamp", "metric_name", "metric_type", "value", "unit", "tags", "source"]
    list_filter = ["metric_type", "unit", "source"]
    search_fields = ["=metric_name", "metric_name", "tags__icontains"]

    def get_search_results(self, request, queryset, search_term):
        # `key:value` finds points whose tags contain exactly that label.
        key, sep, value = search_term.partition(":")
        if sep and key and " " not in key:
            return queryset.filter(tags__contains={key: value}), False
        return super().get_search_results(request, queryset, search_term)


@admin.register(MetricSeries)
class MetricSeriesAdmin(admin.ModelAdmin):
    list_display = ["metric_name", "tags", "metric_type", "unit", "first_seen"]
    list_filter = ["metric_type"]
    search_fields = ["metric_name"]
    readonly_fields = [f.name for f in MetricSeries._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False


@admin.register(MetricRollup)
class MetricRollupAdmin(admin.ModelAdmin):
    """Rollup inspection: what a bucket holds (tags_hash 0 = all label sets)."""

    list_display = [
        "bucket_start",
        "resolution",
        "metric_name",
        "tags_hash",
        "count",
        "sum",
        "min",
        "max",
        "sketch_size",
    ]
    list_filter = ["resolution"]
    search_fields = ["=metric_name"]
    date_hierarchy = "bucket_start"
    show_full_result_count = False
    readonly_fields = [f.name for f in MetricRollup._meta.fields]

    @admin.display(description="sketch buckets")
    def sketch_size(self, obj: MetricRollup) -> int:
        return len(obj.sketch_keys)

    def has_add_permission(self, request) -> bool:
        return False


class BlockAdmin(ReadOnlyAdmin):
    """Packed data (apps.metrics.packing): seen, never changed or deleted here (a block
    deleted is its points or rollups gone). The list reads no arrays; a block's page
    shows them."""

    search_fields = ["=metric_name"]
    list_per_page = 100

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        if request.resolver_match and request.resolver_match.url_name.endswith("_changelist"):
            return queryset.defer(*self.arrays)
        return queryset


@admin.register(PointBlock)
class PointBlockAdmin(BlockAdmin):
    """The points of the days packed, a metric's label set's hour a block: the metric
    points page lists the points not packed yet."""

    arrays = ("times", "vals")
    list_display = ["hour", "metric_name", "metric_type", "tags_hash", "count"]
    list_filter = ["metric_type"]
    date_hierarchy = "hour"
    ordering = ["-hour"]


@admin.register(RollupBlock)
class RollupBlockAdmin(BlockAdmin):
    """The minute and hour rollups of the days packed: an hour's minutes or a day's hours
    of a label set a block (tags_hash 0 = all label sets)."""

    arrays = ("offsets", "counts", "sums", "mins", "maxs", "ends", "keys", "key_counts")
    list_display = ["block_start", "resolution", "metric_name", "tags_hash", "buckets"]
    list_filter = ["resolution"]
    date_hierarchy = "block_start"
    ordering = ["-block_start"]

    def get_queryset(self, request):
        buckets = Func(F("offsets"), function="cardinality", output_field=IntegerField())
        return super().get_queryset(request).annotate(buckets=buckets)

    @admin.display(description="buckets", ordering="buckets")
    def buckets(self, obj: RollupBlock) -> int:
        return obj.buckets


@admin.register(DirtyMinute)
class DirtyMinuteAdmin(admin.ModelAdmin):
    list_display = ["metric_name", "bucket_start"]
    readonly_fields = ["metric_name", "bucket_start"]

    def has_add_permission(self, request) -> bool:
        return False


@admin.register(RollupFailure)
class RollupFailureAdmin(admin.ModelAdmin):
    """Minutes the roller parked: reads take them raw meanwhile. Fix the cause, then retry."""

    list_display = ["metric_name", "bucket_start", "failed_at", "attempts", "error"]
    list_filter = ["metric_name"]
    search_fields = ["=metric_name", "error"]
    date_hierarchy = "bucket_start"
    ordering = ["-failed_at"]
    readonly_fields = [f.name for f in RollupFailure._meta.fields]
    actions = ["retry"]

    def has_add_permission(self, request) -> bool:
        return False

    @admin.action(description="Retry selected minutes (the roller re-rolls them within 10 s)")
    def retry(self, request, queryset) -> None:
        pairs = list(queryset.values_list("metric_name", "bucket_start"))
        queued = rollup_retry(pairs)
        self.message_user(
            request, f"{queued} minute(s) marked dirty; they are parked again if they still fail."
        )
