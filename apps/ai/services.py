"""Writes of the AI app besides usage (which flows through the pipeline): model prices
and knowledge documents."""

from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.core.errors import Conflict
from apps.ingest.privacy import scrub_text

from .models import KnowledgeDocument, ModelPrice

TITLE_LENGTH = KnowledgeDocument._meta.get_field("title").max_length


def _title(title: str) -> str:
    # A redaction may be longer than the secret it hides: cut back to the column.
    return scrub_text(title)[:TITLE_LENGTH]


PRICE_TAKEN = "This model already has a price from that valid_from; change that one instead."


def price_create(*, data: dict, actor: str) -> ModelPrice:
    try:
        with transaction.atomic():
            return ModelPrice.objects.create(**data, created_by=actor)
    except IntegrityError:
        raise Conflict(PRICE_TAKEN) from None


def price_update(*, price: ModelPrice, data: dict) -> ModelPrice:
    for field, value in data.items():
        setattr(price, field, value)
    try:
        with transaction.atomic():
            price.save(update_fields=list(data))
    except IntegrityError:
        raise Conflict(PRICE_TAKEN) from None
    return price


def price_delete(*, price: ModelPrice) -> None:
    price.delete()


def documents_upsert(*, documents: list[dict]) -> dict[str, int]:
    """Insert or update by `document_id` in one statement (a document sent twice in one
    request: the last one counts, as if sent one after the other). Secrets in a title
    (`api_key=...`) are redacted before it is stored, as the ingest kinds' free text."""
    latest = {d["document_id"]: {**d, "title": _title(d.get("title", ""))} for d in documents}
    known = set(
        KnowledgeDocument.objects.filter(document_id__in=latest).values_list(
            "document_id", flat=True
        )
    )
    now = timezone.now()
    KnowledgeDocument.objects.bulk_create(
        [KnowledgeDocument(**d, received_at=now) for d in latest.values()],
        update_conflicts=True,
        unique_fields=["document_id"],
        update_fields=["assistant_id", "title", "updated_at", "received_at"],
    )
    created = len(latest.keys() - known)
    return {"created": created, "updated": len(latest) - created}
