"""The in-process analytics API for code running inside this project.

    from apps import analytics
    analytics.emit_event("memory_posted", user_id=user.pk, metadata={"memory_id": "..."})
    analytics.increment_counter("api_request_count", labels={"endpoint": "/x", "method": "POST"})

Every call validates like the HTTP API, buffers in process and returns at
once; failures are logged and reported as False, never raised. This module
is a facade for callers: nothing in the project imports it.
"""

from apps.events.services import emit_event
from apps.metrics.services import increment_counter, record_gauge, record_metric, record_timer

__all__ = ["emit_event", "increment_counter", "record_gauge", "record_metric", "record_timer"]
