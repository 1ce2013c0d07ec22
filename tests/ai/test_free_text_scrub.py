"""Names a client makes up are free text: secrets in them are redacted before a row exists.

An attacker planted a bearer token in an AI usage's `assistant_name` (it reached the
usage rows and the hourly sums grouped by it), a signed URL's `sig` in a pipeline step's
name and an `api_key=` in a knowledge document's title: all were stored in clear.
"""

import pytest

from apps.ai.models import AiUsage, AiUsageHour, KnowledgeDocument
from apps.ingest.buffer import buffer
from tests.at_rest import tables_holding
from tests.helpers import drain_outbox, post_json

pytestmark = pytest.mark.django_db

LOG = "/api/v1/analytics/log-ai-usage"
DOCUMENTS = "/api/v1/analytics/ai/documents"
BEARER = "aiBearerT0kenQx81Zr"
SIGNATURE = "stepSig9Kd22LqWm"
TITLE_KEY = "docApiK3y55RtPz"
FEATURE_SECRET = "featPw77XqLm"


def test_secrets_in_usage_names_reach_neither_the_rows_nor_the_hourly_sums(ingest_client):
    item = {
        "feature": f"chat password={FEATURE_SECRET}",
        "model": "gpt-4o",
        "assistant_name": f"Authorization: Bearer {BEARER}",
        "tokens_in": 10,
        "tokens_out": 5,
        "steps": [{"name": f"call?sig={SIGNATURE}", "duration_ms": 12}],
    }
    response = post_json(ingest_client, LOG, [item, {**item, "tokens_in": 20}])
    assert response.status_code == 202 and not response.json()["rejected"], response.content
    drain_outbox()
    buffer.flush()
    drain_outbox()

    assert AiUsage.objects.count() == 2  # stored, under the redacted names
    for secret in (BEARER, SIGNATURE, FEATURE_SECRET):
        assert tables_holding(secret) == [], secret
    usage = AiUsage.objects.first()
    assert usage.assistant_name == "Authorization: [redacted]"
    assert usage.steps[0]["name"] == "call?sig=[redacted]"
    assert usage.feature == "chat password=[redacted]"
    [hour] = AiUsageHour.objects.all()  # one group: the same redacted name
    assert (hour.assistant_name, hour.requests, hour.tokens_in) == (usage.assistant_name, 2, 30)


def test_a_secret_in_a_document_title_is_redacted_before_it_is_stored(ingest_client):
    document = {
        "document_id": "handbook-1",
        "title": f"Setup: api_key={TITLE_KEY}",
        "updated_at": "2026-11-20T12:00:00Z",
    }
    response = ingest_client.post(DOCUMENTS, document, format="json")
    assert response.status_code == 200, response.content

    assert tables_holding(TITLE_KEY) == []
    assert KnowledgeDocument.objects.get().title == "Setup: api_key=[redacted]"
    # An update goes the same way.
    again = {**document, "title": f"v2 api_key={TITLE_KEY}"}
    assert ingest_client.post(DOCUMENTS, again, format="json").status_code == 200
    assert tables_holding(TITLE_KEY) == []


def test_a_title_typed_in_the_admin_is_redacted_as_the_apis(admin_client):
    form = {
        "document_id": "handbook",
        "assistant_id": "",
        "title": f"Handbook api_key={TITLE_KEY}",
        "updated_at_0": "2026-12-01",
        "updated_at_1": "10:00:00",
    }
    added = admin_client.post("/admin/ai/knowledgedocument/add/", form)
    assert added.status_code == 302, added.content[:2000]
    document = KnowledgeDocument.objects.get(document_id="handbook")
    changed = admin_client.post(
        f"/admin/ai/knowledgedocument/{document.pk}/change/",
        {**form, "title": f"Handbook v2 api_key={TITLE_KEY}"},
    )

    assert changed.status_code == 302, changed.content[:2000]
    document.refresh_from_db()
    assert document.title.startswith("Handbook v2") and TITLE_KEY not in document.title
    assert KnowledgeDocument.objects.count() == 1
    assert not tables_holding(TITLE_KEY)
