"""The overview: one answer for a dashboard, each block asked of the app that owns it."""

from django.utils import timezone

from apps.monitoring.selectors import host_figures


def overview() -> dict:
    return {
        "system": host_figures(),
        # Filled by the AI usage and product analytics; present (empty) until then, so
        # a dashboard can bind to every block today.
        "ai": {},
        "usage": {},
        "timestamp": timezone.now(),
    }
