"""What one evaluation of a rule decides, as a pure function of its state and value.

    inactive --condition--> pending --held duration_seconds--> firing
        ^                      |                                  |
        +------ cleared -------+------- cleared (past the --------+
                                        resolve threshold)

A rule with duration 0 fires at once. No data follows the rule's `no_data`: keep
the state it had, count as true (alert) or as false (resolve).
"""

import operator
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

COMPARE = {
    "gt": operator.gt,
    "gte": operator.ge,
    "lt": operator.lt,
    "lte": operator.le,
    "eq": operator.eq,
}


class Action(StrEnum):
    NONE = "none"  # nothing changes but the value
    PENDING = "pending"  # the condition started holding
    FIRE = "fire"  # open an incident
    STAY_FIRING = "stay_firing"  # still firing: maybe a repeat notification
    CLEAR = "clear"  # back to inactive from pending
    RESOLVE = "resolve"  # resolve the open incident


@dataclass(frozen=True)
class RuleView:
    """The fields of a rule the decision reads."""

    state: str
    pending_since: datetime | None
    condition_operator: str
    threshold: float
    resolve_threshold: float | None
    duration_seconds: int
    no_data: str


@dataclass(frozen=True)
class Decision:
    action: Action
    state: str
    pending_since: datetime | None


def condition(rule: RuleView, value: float | None) -> bool | None:
    """Whether the rule's condition holds; None when there is no data and no_data keeps."""
    if value is None:
        return {"alert": True, "resolve": False}.get(rule.no_data)
    compare = COMPARE[rule.condition_operator]
    if rule.state == "firing" and rule.resolve_threshold is not None:
        # Hysteresis: once firing, it stays so until the value is past the resolve
        # threshold, so a value wobbling around the threshold does not flap.
        return compare(value, rule.resolve_threshold)
    return compare(value, rule.threshold)


def decide(rule: RuleView, value: float | None, now: datetime) -> Decision:
    holds = condition(rule, value)
    if holds is None:
        return Decision(Action.NONE, rule.state, rule.pending_since)
    if rule.state == "firing":
        if holds:
            return Decision(Action.STAY_FIRING, "firing", None)
        return Decision(Action.RESOLVE, "inactive", None)
    if not holds:
        action = Action.CLEAR if rule.state == "pending" else Action.NONE
        return Decision(action, "inactive", None)
    since = rule.pending_since if rule.state == "pending" and rule.pending_since else now
    if now - since >= timedelta(seconds=rule.duration_seconds):
        return Decision(Action.FIRE, "firing", None)
    return Decision(Action.PENDING, "pending", since)
