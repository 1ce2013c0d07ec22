from datetime import datetime
from typing import Any

from apps.ingest.buffer import record_later


def emit_event(
    event_type: str,
    *,
    user_id: Any = None,
    family_unit_id: Any = None,
    session_id: Any = None,
    metadata: dict | None = None,
    timestamp: datetime | None = None,
    event_id: Any = None,
) -> bool:
    """Record a product event from any code in this project (the replaced system's emit_event).

    Buffered in process and written within about a second; never raises and
    never waits on the database. Returns whether the event was accepted.
    """
    item = {
        "event_type": event_type,
        "user_id": user_id,
        "family_unit_id": family_unit_id,
        "session_id": session_id,
        "metadata": metadata or {},
    }
    if timestamp is not None:
        item["timestamp"] = timestamp.isoformat()
    if event_id is not None:
        item["event_id"] = str(event_id)
    return record_later("event", item)
