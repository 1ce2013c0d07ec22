"""Sentry envelopes and store events, through the one write path (apps.ingest.pipeline).

Events become `error` items, validated, scrubbed, written to the outbox and counted as
the REST endpoint's are. Every other item type is accepted and dropped, counted per type
in the ingest counters /metrics shows (`analytics_ingest_items_total{kind="sentry_session",
outcome="dropped"}`); a client report is counted as received, with the events its SDK
says it discarded (`outcome="sdk_discarded"`).
"""

from collections import Counter

import orjson
from rest_framework import status

from apps.ingest.counters import counts
from apps.ingest.pipeline import IngestAnswer, items_accept

from .envelope import envelope_parse, payload_object, request_body, store_body
from .events import error_from_event, event_id_of

ERROR_KIND = "error"
# Item types the SDKs send that are not events: each its own counter; anything else
# is counted as `sentry_other`, so a client cannot grow the counters without bound.
DROPPED_TYPES = frozenset(
    {
        "transaction",
        "session",
        "sessions",
        "attachment",
        "user_report",
        "feedback",
        "profile",
        "profile_chunk",
        "replay_event",
        "replay_recording",
        "replay_video",
        "check_in",
        "statsd",
        "metric_meta",
        "log",
        "otel_log",
        "span",
        "otel_span",
        "trace_metric",
        "security",
        "raw_security",
        "nel",
    }
)
CLIENT_REPORT = "client_report"
_MAX_QUANTITY = 2**31 - 1


def _label(item_type: str) -> str:
    return f"sentry_{item_type if item_type in DROPPED_TYPES else 'other'}"


def envelope_ingest(*, request, project_id: str) -> IngestAnswer:
    """Ingest the request's envelope: 200 `{"id": <event id>, ...}` as Sentry answers.

    ParseError (400) for a body that is not an envelope, or an event that is not a JSON
    object; the pipeline's 400 when it holds events and none was valid."""
    envelope = envelope_parse(request_body(request))
    events, positions = [], []
    dropped: Counter[str] = Counter()
    reports: list[bytes] = []
    for index, item in enumerate(envelope.items):
        if item.type == "event":
            events.append(payload_object(item.payload, f"payload of item {index} (event)"))
            positions.append(index)
        elif item.type == CLIENT_REPORT:
            reports.append(item.payload)
        else:
            dropped[_label(item.type)] += 1
    answer = _events_accept(
        request=request,
        events=events,
        positions=positions,
        project_id=project_id,
        header_event_id=envelope.headers.get("event_id"),
        dropped=dropped,
    )
    for payload in reports:
        _client_report_count(payload)
    return answer


def store_ingest(*, request, project_id: str) -> IngestAnswer:
    """Ingest the old store endpoint's one event (a transaction is dropped, counted)."""
    event = store_body(request_body(request))
    if event.get("type") == "transaction":
        return _events_accept(
            request=request,
            events=[],
            positions=[],
            project_id=project_id,
            header_event_id=event.get("event_id"),
            dropped=Counter({_label("transaction"): 1}),
        )
    return _events_accept(
        request=request,
        events=[event],
        positions=[0],
        project_id=project_id,
        header_event_id=None,
        dropped=Counter(),
    )


def _events_accept(
    *,
    request,
    events: list[dict],
    positions: list[int],
    project_id: str,
    header_event_id,
    dropped: Counter,
) -> IngestAnswer:
    ids = [
        event_id_of(event, header_event_id if i == 0 else None) for i, event in enumerate(events)
    ]
    answer_id = ids[0] if ids else _hex_or_none(header_event_id)
    body: dict = {"id": answer_id, "accepted": 0, "duplicates": 0, "rejected": []}
    code = status.HTTP_200_OK
    if events:
        items = [
            error_from_event(event, project_id=project_id, event_id=event_id)
            for event, event_id in zip(events, ids, strict=True)
        ]
        outcome = items_accept(request=request, items=items, kind=ERROR_KIND)
        body |= {k: v for k, v in outcome.body.items() if k in ("accepted", "duplicates")}
        body["rejected"] = [
            {**rejected, "index": positions[rejected["index"]]}
            for rejected in outcome.body["rejected"]
        ]
        if outcome.status >= 400:
            code = outcome.status
            body = {**outcome.body, **body}
    for label, n in dropped.items():
        counts.add(label, "dropped", n)
    body["dropped"] = sum(dropped.values())
    return IngestAnswer(code, body)


def _hex_or_none(raw) -> str | None:
    return event_id_of({}, raw) if isinstance(raw, str) and raw else None


def _client_report_count(payload: bytes) -> None:
    """A client report: counted as received, with the events its SDK discarded."""
    counts.add(f"sentry_{CLIENT_REPORT}", "received", 1)
    try:
        report = orjson.loads(payload)
    except orjson.JSONDecodeError:
        return
    discarded = report.get("discarded_events") if isinstance(report, dict) else None
    total = 0
    for entry in discarded if isinstance(discarded, list) else []:
        quantity = entry.get("quantity") if isinstance(entry, dict) else None
        if isinstance(quantity, int) and not isinstance(quantity, bool) and quantity > 0:
            total += min(quantity, _MAX_QUANTITY)
    counts.add(f"sentry_{CLIENT_REPORT}", "sdk_discarded", min(total, _MAX_QUANTITY))
