from django.contrib import admin


class ReadOnlyAdmin(admin.ModelAdmin):
    """Rows the service wrote itself: browsable and searchable, never added or edited."""

    show_full_result_count = False  # big tables: skip the COUNT(*) of the unfiltered set

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


class RecordAdmin(ReadOnlyAdmin):
    """Ingested rows are evidence."""

    date_hierarchy = "timestamp"
    list_per_page = 100
    ordering = ["-timestamp"]
