"""Metric points every stored request log also becomes, so the metrics engine
(statistics, rollups, Prometheus, alerts) answers for requests by name."""

import uuid

REQUEST_COUNT = "api_request_count"
REQUEST_DURATION = "api_request_duration_ms"
_NAMESPACE = uuid.UUID("2f4c1f5e-3b7a-4f0e-9a63-0d5c2b8e7a11")
_TAG_LIMIT = 200  # metric tag values are at most 200 characters


def request_metrics(rows: list[dict]) -> dict[str, list[dict]]:
    """Two points per request log: a count of 1 and its duration, tagged service, endpoint
    (the route when known, so /devices/<id> stays one series), method and status."""
    points = []
    for row in rows:
        tags = {
            "service": row.get("service") or "",
            "endpoint": (row.get("route") or row["endpoint"])[:_TAG_LIMIT],
            "method": row["method"],
            "status": str(row["status_code"]),
        }
        common = {"timestamp": row["timestamp"], "tags": tags, "source": "request_log"}
        points.append(
            {
                **common,
                "event_id": str(uuid.uuid5(_NAMESPACE, f"{row['event_id']}:count")),
                "metric_name": REQUEST_COUNT,
                "metric_type": "counter",
                "value": 1,
            }
        )
        points.append(
            {
                **common,
                "event_id": str(uuid.uuid5(_NAMESPACE, f"{row['event_id']}:duration")),
                "metric_name": REQUEST_DURATION,
                "metric_type": "timer",
                "unit": "ms",
                "value": row["response_time_ms"],
            }
        )
    return {"metric": points}
