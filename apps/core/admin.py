from django.contrib import admin


class RecordAdmin(admin.ModelAdmin):
    """Ingested rows are evidence: browsable and searchable, never edited."""

    date_hierarchy = "timestamp"
    show_full_result_count = False  # big tables: skip the COUNT(*) of the unfiltered set
    list_per_page = 100
    ordering = ["-timestamp"]

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
