"""The ai.* metrics read from the AI usage rows (apps.metrics.sources): what the metric
API, alert rules and /metrics answer for them, as a user asks, before and after the
roller, once per item whatever is retried, and with no point stored for them."""

import statistics
import uuid
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.db import OperationalError
from prometheus_client.parser import text_string_to_metric_families

from apps.ai.metric_sources import (
    COST,
    RESPONSE_TIME,
    STEP_DURATION,
    STEP_TOKENS_IN,
    STEP_TOKENS_OUT,
    SUCCESS_RATE,
    TIME_BETWEEN_TOKENS,
    TOKENS_PER_SECOND,
    TTFT,
)
from apps.ai.models import AiUsage, ModelPrice
from apps.ingest import outbox
from apps.ingest.models import OutboxBatch
from apps.metrics.models import DirtyMinute, MetricPoint, RollupFailure
from apps.metrics.rollups import rollup_pending
from tests.helpers import ago, drain_outbox, iso, post_json

pytestmark = pytest.mark.django_db

LOG = "/api/v1/analytics/log-ai-usage"
BASE = "/api/v1/analytics/metrics"
NOW = datetime(2026, 11, 20, 12, 30, 20, tzinfo=UTC)
ALICE = "7d3c1c8e-6a49-4f43-8d0c-2b5f2f9d1a01"


@pytest.fixture(autouse=True)
def frozen(request):
    if request.node.get_closest_marker("real_clock"):  # what reads the database's now()
        yield
        return
    with time_machine.travel(NOW, tick=False):
        yield


def items() -> list[dict]:
    """60 requests over the last 30 hours (late ones too), one in three with steps."""
    made = []
    for i in range(60):
        item = {
            "event_id": str(uuid.UUID(int=1000 + i)),
            "feature": ("chat", "quiz")[i % 2],
            "model": ("gpt-4o", "mistral")[i % 3 == 0],
            "assistant_id": ALICE if i % 4 else None,
            "user_id": f"user-{i % 5}",
            "success": i % 7 != 0,
            "response_time_ms": 100 + i,
            "tokens_in": 1000 + i,
            "tokens_out": i % 9,
            "generation_ms": 50 * (i % 4),
            "timestamp": iso(NOW - timedelta(minutes=(i * 37) % (30 * 60), seconds=i + 1)),
        }
        if i % 2:
            item["ttft_ms"] = 10 + i
        if i % 3 == 0:
            item["steps"] = [
                {"name": "retrieve", "duration_ms": 10 + i, "tokens_in": 5},
                {"name": "generate", "tokens_out": i},
            ]
        made.append(item)
    return made


def ship(client, batch: list[dict]) -> None:
    response = post_json(client, LOG, batch)
    assert response.status_code == 202, response.json()
    drain_outbox()


def stats(client, name: str, query: str = "") -> dict:
    response = client.get(f"{BASE}/{name}/statistics?hours=48{query}")
    assert response.status_code == 200, response.json()
    return response.json()


def expected(batch: list[dict]) -> dict[str, list[float]]:
    """Every ai.* value, computed here from what was sent."""
    values: dict[str, list[float]] = {}
    for item in batch:
        values.setdefault(SUCCESS_RATE, []).append(100.0 if item["success"] else 0.0)
        values.setdefault(RESPONSE_TIME, []).append(item["response_time_ms"])
        if "ttft_ms" in item:
            values.setdefault(TTFT, []).append(item["ttft_ms"])
        generation, tokens = item["generation_ms"], item["tokens_out"]
        if generation and tokens:
            values.setdefault(TOKENS_PER_SECOND, []).append(tokens * 1000 / generation)
            if tokens > 1:
                values.setdefault(TIME_BETWEEN_TOKENS, []).append(generation / (tokens - 1))
        for step in item.get("steps", ()):
            values.setdefault(STEP_TOKENS_IN, []).append(step.get("tokens_in", 0))
            values.setdefault(STEP_TOKENS_OUT, []).append(step.get("tokens_out", 0))
            if "duration_ms" in step:
                values.setdefault(STEP_DURATION, []).append(step["duration_ms"])
    return values


def assert_answers(client, batch: list[dict]) -> None:
    for name, values in expected(batch).items():
        got = stats(client, name)
        assert got["count"] == len(values), name
        assert got["sum"] == pytest.approx(sum(values)), name
        assert (got["min"], got["max"]) == pytest.approx((min(values), max(values))), name
        assert got["p50"] == pytest.approx(statistics.median(values)), name


def test_ai_metrics_answer_from_the_rows_before_and_after_the_roller(ingest_client, read_client):
    batch = items()
    ship(ingest_client, batch)
    assert not MetricPoint.objects.exists()  # no point is stored for them

    assert_answers(read_client, batch)  # raw: nothing rolled yet
    rollup_pending()
    assert_answers(read_client, batch)  # from the rollups, raw edges included

    # Labels: feature, model and assistant_id (empty without one); steps by step.
    chat = stats(read_client, RESPONSE_TIME, "&tag=feature:chat")
    assert chat["count"] == 30
    no_assistant = stats(read_client, SUCCESS_RATE, "&tag=assistant_id:")
    assert no_assistant["count"] == 15
    by_model = stats(read_client, RESPONSE_TIME, "&group_by=model")
    assert {g["value"]: g["count"] for g in by_model["groups"]} == {"gpt-4o": 40, "mistral": 20}
    retrieve = stats(read_client, STEP_DURATION, "&tag=step:retrieve")
    assert retrieve["count"] == 20
    assert stats(read_client, STEP_DURATION, "&tag=step:generate")["count"] == 0

    series = read_client.get(f"{BASE}/{TTFT}/time-series?hours=48&interval=1h").json()
    assert sum(b["count"] or 0 for b in series["buckets"]) == 30

    names = read_client.get(f"{BASE}/names", {"search": "ai."}).json()["metrics"]
    listed = {row["name"]: (row["type"], row["unit"], row["tag_keys"]) for row in names}
    assert listed[RESPONSE_TIME] == ("timer", "ms", ["assistant_id", "feature", "model"])
    assert listed[STEP_DURATION] == ("timer", "ms", ["assistant_id", "step"])
    assert COST not in listed  # no price: no cost


def test_a_batch_sent_again_and_processed_twice_counts_once(ingest_client, read_client):
    batch = items()
    for _ in range(2):  # a client retrying the whole batch: a second outbox row
        assert post_json(ingest_client, LOG, batch).status_code == 202
    first, second = OutboxBatch.objects.order_by("pk").values_list("pk", flat=True)
    assert outbox.outbox_process(outbox_id=first) == len(batch)
    assert outbox.outbox_process(outbox_id=first) == 0  # a redelivered task: row gone
    assert outbox.outbox_process(outbox_id=second) == 0  # every item a duplicate
    rollup_pending()
    ship(ingest_client, batch[:10])  # and once more, after the roller
    rollup_pending()

    assert_answers(read_client, batch)


def test_a_failed_statement_leaves_nothing_and_the_retry_counts_once(
    ingest_client, read_client, monkeypatch
):
    """The series and stale minutes are marked in the statement that stores the rows: a
    failure (a lost connection) undoes all of it, and the retry stores it once."""
    batch = items()
    assert post_json(ingest_client, LOG, batch).status_code == 202
    real = outbox._inserted_count

    def lost(cursor, kind):
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(outbox, "_inserted_count", lost)
    with pytest.raises(OperationalError):
        drain_outbox()
    assert AiUsage.objects.count() == 0
    assert stats(read_client, SUCCESS_RATE)["count"] == 0

    monkeypatch.setattr(outbox, "_inserted_count", real)
    assert drain_outbox() == len(batch)
    rollup_pending()
    assert_answers(read_client, batch)


def test_cost_is_priced_when_received_and_tagged_by_user(ingest_client, read_client):
    ModelPrice.objects.create(
        model="gpt-*", input_per_million=2, output_per_million=10, cached_input_per_million=1
    )
    ModelPrice.objects.create(
        model="gpt-4o",
        input_per_million=5,
        output_per_million=20,
        valid_from=NOW - timedelta(hours=2),
    )
    ship(
        ingest_client,
        [
            # gpt-4o now: 1000 x 5 + 100 x 20 = 7,000 per million
            {"feature": "chat", "model": "gpt-4o", "user_id": "ann", "tokens_in": 1000,
             "tokens_out": 100, "timestamp": iso(NOW - timedelta(minutes=1))},
            # gpt-4o before its own price: the glob's, cached input at its price
            {"feature": "chat", "model": "gpt-4o", "user_id": "ann", "tokens_in": 1000,
             "cached_tokens": 500, "timestamp": iso(NOW - timedelta(hours=5))},
            {"feature": "chat", "model": "gpt-4o-mini", "user_id": "bob", "tokens_out": 1000,
             "timestamp": iso(NOW - timedelta(minutes=1))},
            {"feature": "chat", "model": "llama", "user_id": "bob", "tokens_in": 10**6,
             "timestamp": iso(NOW - timedelta(minutes=1))},
        ],
    )  # fmt: skip
    rollup_pending()
    ann = stats(read_client, COST, "&tag=user_id:ann")
    assert (ann["count"], ann["sum"]) == (2, pytest.approx(0.007 + 0.0015))
    bob = stats(read_client, COST, "&tag=user_id:bob")
    assert (bob["count"], bob["sum"]) == (1, pytest.approx(0.01))  # llama has no price
    names = read_client.get(f"{BASE}/names", {"search": COST}).json()["metrics"]
    assert [(n["name"], n["type"], n["tag_keys"]) for n in names] == [
        (COST, "counter", ["assistant_id", "feature", "model", "user_id"])
    ]


@pytest.mark.real_clock
def test_prometheus_exposition_has_the_ai_metrics(ingest_client, read_client):
    ship(
        ingest_client,
        [
            {"feature": "chat", "model": "m", "response_time_ms": 200, "success": False,
             "timestamp": ago(minutes=1)},
            {"feature": "chat", "model": "m", "response_time_ms": 400, "timestamp": ago(minutes=2)},
        ],
    )  # fmt: skip
    rollup_pending()
    text = read_client.get("/metrics").content.decode()
    samples = {
        (s.name, s.labels.get("feature")): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }
    assert samples[("ai_response_time_ms_count", "chat")] == 2
    assert samples[("ai_response_time_ms_sum", "chat")] == 600
    assert samples[("ai_success_rate", "chat")] == 0  # the latest value


def test_the_upgrade_drops_the_points_once_derived_and_rolls_the_rows_again(
    ingest_client, read_client
):
    """metrics/0005 on a deployment that stored ai.* points: they go (a client's own
    point under such a name stays), and the minutes roll again from the rows."""
    import importlib

    from django.db import connection

    from apps.metrics.schemas import tags_hash

    upgrade = importlib.import_module("apps.metrics.migrations.0005_ai_metrics_from_ai_usage")
    batch = items()
    ship(ingest_client, batch)
    old_tags = {"feature": "chat", "model": "gpt-4o", "assistant_id": ""}
    for i, source in enumerate(("ai_usage", "ai_usage", "my-app")):
        MetricPoint.objects.create(
            event_id=uuid.UUID(int=i + 1), timestamp=NOW - timedelta(minutes=5),
            received_at=NOW, metric_name=RESPONSE_TIME, metric_type="timer", value=1.0,
            tags=old_tags, tags_hash=tags_hash(old_tags), source=source,
        )  # fmt: skip
    minute = (NOW - timedelta(minutes=5)).replace(second=0)
    DirtyMinute.objects.create(metric_name=RESPONSE_TIME, bucket_start=minute)
    rollup_pending()
    assert stats(read_client, RESPONSE_TIME)["count"] == len(batch) + 3

    upgrade.rebuild(None, type("Editor", (), {"connection": connection})())
    rollup_pending()

    assert list(MetricPoint.objects.values_list("source", flat=True)) == ["my-app"]
    assert stats(read_client, RESPONSE_TIME)["count"] == len(batch) + 1
    for name, values in expected(batch).items():
        extra = 1 if name == RESPONSE_TIME else 0
        assert stats(read_client, name)["count"] == len(values) + extra, name


def test_a_stored_metric_reads_the_metric_table_alone_and_a_source_once():
    """The relation of a stored metric is its table (no union to plan); of a source's
    metric, asked for once a pair of the roller, the table and that source once."""
    from apps.metrics.sources import POINTS, points_relation

    assert points_relation(["api.latency", "api.latency"]) == POINTS
    relation = points_relation([TTFT, "api.latency", TTFT, TTFT])
    assert relation.count("UNION ALL") == 1 and f"'{TTFT}'" in relation


def test_extreme_values_leave_the_speed_out_and_every_read_answers(ingest_client, read_client):
    """What a client may send (tokens up to 2^31 - 1, a generation of 1e-300 ms) is stored,
    and no read or re-roll fails: a generation under a nanosecond gives no speed point
    (its speed would be beyond any float), and big token counts are counted in floats."""
    at = iso(NOW - timedelta(minutes=2))
    ship(
        ingest_client,
        [
            {"feature": "f", "tokens_out": 2_000_000_000, "generation_ms": 1e-300, "timestamp": at},
            {"feature": "f", "tokens_out": 2_147_483_647, "generation_ms": 1000, "timestamp": at},
            {"feature": "f", "tokens_out": 2, "generation_ms": 4, "timestamp": at},
        ],
    )
    assert AiUsage.objects.count() == 3
    for rolled in (False, True):
        if rolled:
            rollup_pending()
            assert not RollupFailure.objects.exists()
        speed = stats(read_client, TOKENS_PER_SECOND)
        assert speed["count"] == 2
        assert speed["max"] == pytest.approx(2_147_483_647)
        gaps = stats(read_client, TIME_BETWEEN_TOKENS)
        assert gaps["count"] == 2 and gaps["min"] == pytest.approx(1000 / 2_147_483_646)
