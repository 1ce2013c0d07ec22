"""The one write path: every ingest endpoint, the mixed batch included, calls `items_ingest`.

body -> items -> validated rows -> each kind's gate (if it has one) -> one
outbox insert -> the answer. A 202 means the rows are committed in the outbox.
"""

from dataclasses import dataclass

from rest_framework import exceptions, status

from .body import NDJSON_TYPES, media_type, parse_items, read_body
from .counters import counts
from .outbox import outbox_write
from .registry import Decisions, RecordKind, get_kind
from .validation import SESSION_KINDS_DETAIL, Outcome, session_user, validate_items


@dataclass(frozen=True)
class IngestAnswer:
    status: int
    body: dict


def items_ingest(*, request, kind: str | None = None, kind_key: str | None = None) -> IngestAnswer:
    """Ingest the request's items, all of `kind`, or each of the kind its `kind_key` field names.

    The answer counts accepted, duplicate and rejected items (by index); when a
    kind's gate decided what is stored, it also says what, and why, per item.
    """
    if kind is not None and session_user(request) and not get_kind(kind).session_writable:
        raise exceptions.PermissionDenied(SESSION_KINDS_DETAIL)
    items = parse_items(read_body(request), ndjson=media_type(request) in NDJSON_TYPES)
    return items_accept(request=request, items=items, kind=kind, kind_key=kind_key)


def items_accept(
    *, request, items: list, kind: str | None = None, kind_key: str | None = None
) -> IngestAnswer:
    """The write path after the body: for an endpoint that reads its own wire format (an
    SDK's protocol) and turns it into this service's items, each then validated, gated,
    written to the outbox and counted exactly as the REST endpoints' items are."""
    if kind is not None and session_user(request) and not get_kind(kind).session_writable:
        raise exceptions.PermissionDenied(SESSION_KINDS_DETAIL)
    resolve = (lambda item: get_kind(kind)) if kind is not None else _kind_of(kind_key)
    outcome = validate_items(items, resolve_kind=resolve, request=request, kind_key=kind_key)
    _count(outcome, label=kind or "batch")
    if not outcome.accepted:
        return IngestAnswer(
            status.HTTP_400_BAD_REQUEST,
            {
                "error": "invalid",
                "detail": "No item was accepted.",
                "accepted": 0,
                "duplicates": 0,
                "rejected": outcome.rejected,
            },
        )
    batches, gated = _gate(outcome)
    try:
        outbox_write(batches=batches)
    except BaseException:
        for decisions in gated.values():
            decisions.failed()
        raise
    for decisions in gated.values():
        decisions.written()
    body = {
        "accepted": outcome.accepted_count,
        "duplicates": outcome.duplicates,
        "rejected": outcome.rejected,
    }
    if gated:
        body |= _gate_results(outcome, gated)
    return IngestAnswer(status.HTTP_202_ACCEPTED, body)


def _kind_of(kind_key: str):
    def resolve(item: dict) -> RecordKind:
        name = item.get(kind_key)
        if not isinstance(name, str):
            raise KeyError(f"Each item needs a string `{kind_key}`.")
        try:
            return get_kind(name)
        except KeyError:
            raise KeyError(f"Unknown kind {name!r}.") from None

    return resolve


def _count(outcome: Outcome, *, label: str) -> None:
    for name, rows in outcome.accepted.items():
        counts.add(name, "accepted", len(rows))
    counts.add(label, "rejected", len(outcome.rejected))
    counts.add(label, "duplicate", outcome.duplicates)


def _gate(outcome: Outcome) -> tuple[dict[str, list[dict]], dict[str, Decisions]]:
    """The rows to write per kind, after the gates of the kinds that have one."""
    batches: dict[str, list[dict]] = {}
    gated: dict[str, Decisions] = {}
    for name, rows in outcome.accepted.items():
        gate = get_kind(name).gate
        if gate is None:
            batches[name] = rows
            continue
        decisions = gated[name] = gate(rows)
        kept = [row for row, stored in zip(rows, decisions.stored, strict=True) if stored]
        if kept:
            batches[name] = kept
    return batches, gated


def _gate_results(outcome: Outcome, gated: dict[str, Decisions]) -> dict:
    results = [
        {"index": index, "stored": stored, "reason": reason}
        for name, decisions in gated.items()
        for index, stored, reason in zip(
            outcome.accepted_indices[name], decisions.stored, decisions.reasons, strict=True
        )
    ]
    results.sort(key=lambda result: result["index"])
    stored = sum(result["stored"] for result in results)
    return {"stored": stored, "filtered": len(results) - stored, "results": results}
