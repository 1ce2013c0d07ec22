"""The state machine of one rule, value by value."""

from datetime import UTC, datetime, timedelta

import pytest

from apps.alerts.decisions import Action, RuleView, decide

T0 = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


def rule(**overrides) -> RuleView:
    fields = {
        "state": "inactive",
        "pending_since": None,
        "condition_operator": "gt",
        "threshold": 90.0,
        "resolve_threshold": None,
        "duration_seconds": 300,
        "no_data": "keep_state",
    }
    return RuleView(**{**fields, **overrides})


def run(view: RuleView, values: list[tuple[int, float | None]]) -> list[str]:
    """Feed (seconds after T0, value) pairs; the actions taken, in order."""
    actions = []
    for seconds, value in values:
        decision = decide(view, value, T0 + timedelta(seconds=seconds))
        actions.append(decision.action.value)
        view = RuleView(
            **{**view.__dict__, "state": decision.state, "pending_since": decision.pending_since}
        )
    return actions


def test_pending_until_the_condition_held_for_the_duration_then_firing():
    assert run(rule(), [(0, 95), (60, 96), (299, 97), (300, 97), (360, 99)]) == [
        "pending",
        "pending",
        "pending",
        "fire",
        "stay_firing",
    ]


def test_a_dip_during_pending_starts_the_duration_over():
    assert run(rule(), [(0, 95), (200, 50), (250, 95), (500, 95), (550, 95)]) == [
        "pending",
        "clear",
        "pending",
        "pending",
        "fire",
    ]


def test_zero_duration_fires_at_once_and_resolves_when_cleared():
    assert run(rule(duration_seconds=0), [(0, 91), (60, 89)]) == ["fire", "resolve"]


@pytest.mark.parametrize(
    ("operator", "value", "holds"),
    [
        ("gt", 90.0, False),
        ("gte", 90.0, True),
        ("lt", 89.9, True),
        ("lte", 90.0, True),
        ("eq", 90.0, True),
        ("eq", 90.1, False),
    ],
)
def test_operators(operator, value, holds):
    action = decide(rule(duration_seconds=0, condition_operator=operator), value, T0).action
    assert (action == Action.FIRE) is holds


def test_hysteresis_stops_flapping_around_the_threshold():
    wobble = [(i * 60, v) for i, v in enumerate([91, 89, 91, 89, 91, 86, 84])]
    without = run(rule(duration_seconds=0), wobble)
    with_hysteresis = run(rule(duration_seconds=0, resolve_threshold=85), wobble)

    assert without.count("fire") == 3 and without.count("resolve") == 3
    assert with_hysteresis == ["fire"] + ["stay_firing"] * 5 + ["resolve"]


@pytest.mark.parametrize(
    ("no_data", "expected"),
    [
        ("keep_state", ["fire", "none", "none", "resolve"]),
        ("resolve", ["fire", "resolve", "none", "none"]),
        ("alert", ["fire", "stay_firing", "stay_firing", "resolve"]),
    ],
)
def test_no_data_follows_the_rule(no_data, expected):
    values = [(0, 95), (60, None), (120, None), (180, 50)]
    assert run(rule(duration_seconds=0, no_data=no_data), values) == expected


def test_no_data_alerting_goes_through_pending_like_a_true_condition():
    assert run(rule(no_data="alert"), [(0, None), (300, None)]) == ["pending", "fire"]
