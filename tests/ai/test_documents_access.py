"""Knowledge documents are written with an ingest key: a signed-in session may write
user activity, errors and events only (the kind registry's `session_writable`), and
used to be able to write (and overwrite, by document_id) documents too."""

import pytest
from rest_framework.test import APIClient

from apps.ai.models import KnowledgeDocument

pytestmark = pytest.mark.django_db

DOCUMENTS = "/api/v1/analytics/ai/documents"
DOCUMENT = {"document_id": "handbook-1", "title": "Handbook", "updated_at": "2026-01-05T10:00:00Z"}


def test_a_plain_users_session_cannot_write_documents(outsider):
    client = APIClient()
    client.force_login(outsider)

    response = client.post(DOCUMENTS, DOCUMENT, format="json")

    assert response.status_code == 403
    assert "ingest key" in response.json()["detail"]
    assert not KnowledgeDocument.objects.exists()


def test_a_staff_session_cannot_write_documents_either(staff_client):
    response = staff_client.post(DOCUMENTS, DOCUMENT, format="json")

    assert response.status_code == 403
    assert not KnowledgeDocument.objects.exists()


def test_an_ingest_key_writes_documents(ingest_client, read_client):
    response = ingest_client.post(DOCUMENTS, DOCUMENT, format="json")

    assert response.status_code == 200, response.content
    assert KnowledgeDocument.objects.filter(document_id="handbook-1").count() == 1
    assert read_client.post(DOCUMENTS, DOCUMENT, format="json").status_code == 403
