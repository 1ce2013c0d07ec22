"""The metric point each new issue and each regression also becomes, so an alert rule
(the built-in "New or regressed error issue", off until an operator enables it) opens
an incident through the normal evaluation."""

import uuid

from . import selectors

ISSUES_OPENED = "errors.issues_opened"
_NAMESPACE = uuid.UUID("3c5d1a0e-8f4b-4e7a-9a61-2b7f0c9d5e13")


def issue_openings(rows: list[dict]) -> dict[str, list[dict]]:
    """One `errors.issues_opened` counter point per issue these rows opened or reopened
    (read back from the timeline entries the storing transaction wrote, which name the
    event). It runs in that transaction, so the points are stored with the entries or
    not at all; their event_ids derive from the entries', so they are stored once."""
    openings = selectors.openings_by_events([row["event_id"] for row in rows])
    points = [
        {
            "event_id": str(uuid.uuid5(_NAMESPACE, str(opening["id"]))),
            "timestamp": opening["at"].isoformat(),
            "metric_name": ISSUES_OPENED,
            "metric_type": "counter",
            "value": 1,
            "tags": {
                "kind": "new" if opening["kind"] == "first_seen" else "regression",
                "category": opening["issue__category"],
                "severity": opening["issue__severity"],
            },
            "source": "errors",
        }
        for opening in openings
    ]
    return {"metric": points} if points else {}
