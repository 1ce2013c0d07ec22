"""OTLP exports through the one write path: each signal's message becomes this service's
items, handed per kind to apps.ingest.pipeline.items_accept (validation, gates, outbox,
counts as for the REST endpoints); what the pipeline refuses comes back as the
Export*ServiceResponse's partial_success."""

import math
from collections.abc import Iterable
from contextlib import nullcontext
from dataclasses import dataclass

from django.db import transaction

from apps.ingest.counters import counts
from apps.ingest.pipeline import items_accept

from . import logs, metrics, traces
from .histograms import OutOfRangeError
from .streams import streams_advance

MAX_REASONS = 5  # refusals described in error_message; the count covers them all


@dataclass(frozen=True)
class ExportOutcome:
    rejected: int  # OTLP data points / spans / log records refused
    error_message: str


def _accept(
    *, request, kind: str, items: list[dict], origins: list[int], names: dict[int, str]
) -> dict[int, str]:
    """Items of one kind into the pipeline; the OTLP records (by origin) it refused, why."""
    if not items:
        return {}
    answer = items_accept(request=request, items=items, kind=kind)
    refused: dict[int, str] = {}
    for rejection in answer.body.get("rejected", []):
        origin = origins[rejection["index"]]
        if origin not in refused:
            errors = "; ".join(
                f"{field}: {' '.join(messages)}" for field, messages in rejection["errors"].items()
            )
            refused[origin] = f"{names.get(origin, kind)}: {errors}"
    return refused


def _outcome(refused: dict[int, str]) -> ExportOutcome:
    reasons = list(dict.fromkeys(refused.values()))
    message = "; ".join(reasons[:MAX_REASONS])
    if len(reasons) > MAX_REASONS:
        message += f"; and {len(reasons) - MAX_REASONS} more"
    return ExportOutcome(rejected=len(refused), error_message=message)


def metrics_export(*, request, message) -> ExportOutcome:
    """Store an ExportMetricsServiceRequest's data points as metric points.

    Cumulative streams advance (apps.otlp.streams) in the transaction that writes the
    outbox: a request that fails (503) changes nothing, and its retry counts the same.
    """
    points = metrics.data_points(message)
    cumulative = list(_cumulative(points))
    # Only cumulative streams need the state and the items in one transaction.
    with transaction.atomic() if cumulative else nullcontext():
        deltas = streams_advance(points=cumulative)
        converted = metrics.convert(points, deltas)
        refused = dict(converted.refused)
        refused |= _accept(
            request=request,
            kind="metric",
            items=converted.items,
            origins=converted.origins,
            names=converted.names,
        )
    return _outcome(refused)


def _cumulative(points: list[metrics.Point]) -> Iterable[tuple[int, object, int, dict]]:
    for point in points:
        stream = metrics.stream_of(point)
        if stream is None or point.data.flags & metrics.NO_RECORDED_VALUE:
            continue
        if point.shape == "sum":
            which = point.data.WhichOneof("value")
            value = float(getattr(point.data, which)) if which else math.nan
            if not math.isfinite(value):
                continue  # refused by the conversion, naming why
            state = {"value": value}
        else:
            try:
                state = metrics.histogram_state(point)
            except OutOfRangeError:
                continue  # refused by the conversion, naming why
        yield point.index, stream, point.data.time_unix_nano, state


def traces_export(*, request, message) -> ExportOutcome:
    """Store an ExportTraceServiceRequest's GenAI spans as AI usage and its HTTP server
    spans as request logs (apps.otlp.traces); count the others as dropped."""
    converted = traces.convert(traces.spans(message))
    counts.add("otlp_span", "dropped", converted.dropped)
    return _accept_kinds(request=request, converted=converted)


def logs_export(*, request, message) -> ExportOutcome:
    """Store an ExportLogsServiceRequest's error records as errors, the others as events
    or nothing (OTLP_LOGS_BELOW_ERROR; apps.otlp.logs)."""
    converted = logs.convert(message)
    counts.add("otlp_log", "dropped", converted.dropped)
    return _accept_kinds(request=request, converted=converted)


def _accept_kinds(*, request, converted) -> ExportOutcome:
    refused: dict[int, str] = {}
    for kind, items in converted.items.items():
        refused |= _accept(
            request=request,
            kind=kind,
            items=items,
            origins=converted.origins[kind],
            names=converted.names,
        )
    return _outcome(refused)
