"""event_figures: the grouped reads product insights are built on, against hand answers."""

from datetime import UTC, datetime, timedelta

import pytest

from apps.events.models import Event
from apps.events.selectors import Figure, event_figures

pytestmark = pytest.mark.django_db

START = datetime(2026, 11, 18, tzinfo=UTC)


def store(*events: tuple) -> None:
    Event.objects.bulk_create(
        Event(event_type=kind, user_id=user, metadata=meta, timestamp=START + timedelta(hours=h),
              received_at=START)
        for kind, user, meta, h in events
    )  # fmt: skip


def test_grouped_by_a_metadata_key_with_percentiles_sums_and_distinct_counts():
    times = [10, 20, 30, 40, 1000]
    store(
        *(("called", f"u{i % 2}", {"agent_id": "a", "ms": ms}, 1) for i, ms in enumerate(times)),
        ("called", "u0", {"agent_id": "a", "ms": "slow"}, 1),  # not a number: left out
        ("called", "u0", {"agent_id": "b", "ms": 5, "ok": False, "tier": "gold"}, 2),
        ("bid", "u9", {"agent_id": "c", "amount": 7}, 3),  # c: no call at all
        ("called", "u0", {"agent_id": "a", "ms": 1}, 30),  # the next day: outside
    )
    figures = [
        Figure("calls", ("called",)),
        Figure("failed", ("called",), "false", "ok"),
        Figure("p50", ("called",), "p50", "ms"),
        Figure("p95", ("called",), "p95", "ms"),
        Figure("bids", ("bid",), "sum", "amount"),
        Figure("tiers", ("called",), "distinct", "tier"),
    ]
    found = event_figures(
        since=START, until=START + timedelta(days=1), figures=figures, group_by="agent_id"
    )

    assert found["a"]["calls"] == 6 and found["a"]["failed"] == 0
    assert found["a"]["p50"] == 30.0  # percentile_cont over 10, 20, 30, 40, 1000
    assert found["a"]["p95"] == pytest.approx(40 + (1000 - 40) * 0.8)
    assert found["b"] == {"calls": 1, "failed": 1, "p50": 5.0, "p95": 5.0, "bids": None,
                          "tiers": 1}  # fmt: skip
    assert found["a"]["tiers"] == 0  # no call of a's said its tier
    assert found["c"]["bids"] == 7.0 and found["c"]["calls"] == 0 and found["c"]["p50"] is None


def test_distinct_counts_of_users_and_an_ungrouped_total():
    store(
        ("x", "ann", {"agent_id": "a"}, 1),
        ("x", "ann", {"agent_id": "a"}, 2),
        ("x", "ann", {"agent_id": "b"}, 3),
        ("x", "bob", {}, 4),
        ("x", "", {"agent_id": "z"}, 5),  # anonymous: no user group
    )
    window = {"since": START, "until": START + timedelta(days=1)}
    by_user = event_figures(
        **window, figures=[Figure("agents", None, "distinct", "agent_id")], group_by="user_id"
    )
    assert by_user == {"ann": {"agents": 2}}  # bob named no agent
    with_count = event_figures(
        **window,
        figures=[Figure("bids", ("bid",)), Figure("agents", None, "distinct", "agent_id")],
        group_by="user_id",
    )
    assert with_count == {"ann": {"bids": 0, "agents": 2}}  # no bid: 0, not None
    total = event_figures(**window, figures=[Figure("events", None)])
    assert total == {"events": 5}
