"""The overview: one answer for a dashboard, each block asked of the app that owns it."""

from django.conf import settings
from django.utils import timezone

from apps.ai.selectors import usage_overview
from apps.monitoring.selectors import host_figures, service_available
from apps.usage.selectors import usage_summary


def overview() -> dict:
    ai = usage_overview()
    watched = settings.AI_MODEL_SERVICE or ai["model"]
    return {
        "system": host_figures(),
        "ai": {**ai, "is_available": service_available(watched) if watched else None},
        "usage": usage_summary(),
        "timestamp": timezone.now(),
    }
