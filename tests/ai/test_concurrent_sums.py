"""Workers storing batches at the same moment: the hourly sums and question counts are
kept in the insert statement itself, so they always match the rows, whatever the timing."""

import threading
from datetime import timedelta

import pytest
from django.db import OperationalError, connections
from django.db.models import Sum
from django.utils import timezone

from apps.ai.models import AiQuestion, AiQuestionVariant, AiUsage, AiUsageHour
from apps.ingest.models import OutboxBatch
from apps.ingest.outbox import outbox_process
from tests.helpers import iso, post_json

pytestmark = pytest.mark.django_db(transaction=True)

BATCHES = 8


def test_batches_stored_at_once_add_up_exactly(ingest_client):
    now = timezone.now()
    for b in range(BATCHES):
        items = [
            {
                "feature": ("chat", "quiz")[i % 2],
                "model": "m",
                "tokens_in": i,
                "question": ("Reset password?", "reset password", "Opening hours")[i % 3],
                "timestamp": iso(now - timedelta(minutes=(i * 7 + b) % 120)),
            }
            for i in range(200)
        ]
        assert post_json(ingest_client, "/api/v1/analytics/log-ai-usage", items).status_code == 202
    batches = list(OutboxBatch.objects.values_list("pk", flat=True))
    start = threading.Barrier(len(batches))
    failures: list[BaseException] = []

    def store(pk: int) -> None:
        start.wait()
        try:
            for _ in range(5):  # as the task would: a deadlock is retried
                try:
                    outbox_process(outbox_id=pk)
                    return
                except OperationalError as exc:
                    failures.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=store, args=(pk,)) for pk in batches]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert not OutboxBatch.objects.exists()
    assert failures == []  # locks are taken in key order: no deadlock to retry
    rows = AiUsage.objects.count()
    assert rows == BATCHES * 200
    hours = AiUsageHour.objects.aggregate(r=Sum("requests"), t=Sum("tokens_in"))
    assert (hours["r"], hours["t"]) == (rows, AiUsage.objects.aggregate(t=Sum("tokens_in"))["t"])
    frequencies = dict(AiQuestion.objects.values_list("question_key", "frequency"))
    opening = BATCHES * len(range(2, 200, 3))  # every third item of each batch
    assert frequencies == {"reset password": rows - opening, "opening hours": opening}
    assert AiQuestionVariant.objects.filter(question_key="reset password").count() == 2
