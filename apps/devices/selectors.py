from django.utils import timezone

from apps.core.query import window_start

from .models import DeviceStateHistory

TIMELINE_LIMIT = 5000


def device_state_history(*, device_id: str, hours: int) -> dict:
    """The device's state changes in the window and how long it spent in each state.

    The last change before the window tells the state the window opened in,
    so time-in-state covers the whole window, not just from the first change.
    """
    now = timezone.now()
    since = window_start(hours, now=now)
    history = DeviceStateHistory.objects.filter(device_id=device_id)
    before = history.filter(timestamp__lt=since).order_by("-timestamp").first()
    changes = list(
        history.filter(timestamp__gte=since, timestamp__lte=now).order_by("timestamp", "id")[
            : TIMELINE_LIMIT + 1
        ]
    )
    truncated = len(changes) > TIMELINE_LIMIT
    changes = changes[:TIMELINE_LIMIT]

    time_in_state: dict[str, float] = {}
    state = before.new_state if before else None
    cursor = since
    for change in changes:
        if state is not None:
            time_in_state[state] = (
                time_in_state.get(state, 0.0) + (change.timestamp - cursor).total_seconds()
            )
        state, cursor = change.new_state, change.timestamp
    if state is not None and not truncated:
        time_in_state[state] = time_in_state.get(state, 0.0) + (now - cursor).total_seconds()

    return {
        "device_id": device_id,
        "period_hours": hours,
        "since": since,
        "state_at_start": before.new_state if before else None,
        "current_state": state,
        "total_changes": len(changes),
        "truncated": truncated,
        "time_in_state_seconds": {k: round(v, 3) for k, v in time_in_state.items()},
        "timeline": [
            {
                "event_id": c.event_id,
                "timestamp": c.timestamp,
                "previous_state": c.previous_state,
                "new_state": c.new_state,
                "changed_by": c.changed_by,
                "reason": c.reason,
                "extra_data": c.extra_data,
            }
            for c in changes
        ],
    }
