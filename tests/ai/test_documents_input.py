"""A knowledge document's `"assistant_id": true` was stored as the UUID
00000000-0000-0000-0000-000000000001: a boolean is never a UUID or a number."""

import pytest

from apps.ai.models import KnowledgeDocument
from tests.helpers import post_json

pytestmark = pytest.mark.django_db

DOCUMENTS = "/api/v1/analytics/ai/documents"
DOCUMENT = {"document_id": "handbook-1", "title": "Handbook", "updated_at": "2026-01-05T10:00:00Z"}


def field_errors(response) -> str:
    assert response.status_code == 400, response.content
    return str(response.json()["fields"])


@pytest.mark.parametrize("value", [True, False, 1, 1.5])
def test_a_boolean_or_number_assistant_id_is_refused(ingest_client, value):
    response = post_json(ingest_client, DOCUMENTS, {**DOCUMENT, "assistant_id": value})

    assert "assistant_id" in field_errors(response)
    assert not KnowledgeDocument.objects.exists()


def test_a_boolean_assistant_id_in_a_batch_names_the_field(ingest_client):
    body = {"batch": [DOCUMENT, {**DOCUMENT, "document_id": "b", "assistant_id": True}]}

    assert "assistant_id" in field_errors(post_json(ingest_client, DOCUMENTS, body))
    assert not KnowledgeDocument.objects.exists()


@pytest.mark.parametrize(("field", "length"), [("title", 501), ("document_id", 256)])
def test_a_text_longer_than_its_column_is_a_400(ingest_client, field, length):
    response = post_json(ingest_client, DOCUMENTS, {**DOCUMENT, field: "t" * length})

    assert field in field_errors(response)


def test_a_valid_document_with_an_assistant_is_still_stored(ingest_client):
    assistant = "6f1c2b9e-3d4a-4c5b-8e7f-0a1b2c3d4e5f"

    response = post_json(ingest_client, DOCUMENTS, {**DOCUMENT, "assistant_id": assistant})

    assert response.status_code == 200, response.content
    assert str(KnowledgeDocument.objects.get().assistant_id) == assistant
