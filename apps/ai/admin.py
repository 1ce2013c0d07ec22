from django.contrib import admin

from apps.core.admin import RecordAdmin
from apps.keys.permissions import request_actor

from . import services
from .models import AiUsage, KnowledgeDocument, ModelPrice


@admin.register(AiUsage)
class AiUsageAdmin(RecordAdmin):
    list_display = ["timestamp", "feature", "model", "assistant_name", "success", "tokens_in"]
    list_filter = ["success", "feature", "model"]
    search_fields = ["=user_id", "=conversation_id", "assistant_name", "question", "=event_id"]


@admin.register(ModelPrice)
class ModelPriceAdmin(admin.ModelAdmin):
    list_display = [
        "model",
        "valid_from",
        "input_per_million",
        "output_per_million",
        "cached_input_per_million",
        "created_by",
    ]
    search_fields = ["model"]
    readonly_fields = ["created_at", "created_by"]

    def save_model(self, request, obj, form, change) -> None:
        if not change:
            obj.created_by = request_actor(request)
        super().save_model(request, obj, form, change)


@admin.register(KnowledgeDocument)
class KnowledgeDocumentAdmin(admin.ModelAdmin):
    list_display = ["document_id", "title", "assistant_id", "updated_at"]
    search_fields = ["=document_id", "title"]

    def get_readonly_fields(self, request, obj=None) -> list[str]:
        # A document is known by its id: a new id is a new document.
        return ["document_id", "received_at"] if obj else ["received_at"]

    def save_model(self, request, obj, form, change) -> None:
        # The same write as the API's (the title's secrets redacted before it is stored).
        document = {
            "document_id": obj.document_id,
            "assistant_id": obj.assistant_id,
            "title": obj.title,
            "updated_at": obj.updated_at,
        }
        services.documents_upsert(documents=[document])
        if not obj.pk:
            obj.pk = KnowledgeDocument.objects.get(document_id=obj.document_id).pk
        obj.refresh_from_db()
