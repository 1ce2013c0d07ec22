from django.apps import AppConfig


class PostHogCaptureConfig(AppConfig):
    """PostHog's capture API at this service's root: what posthog-js and posthog-python
    send lands as events and user activity through the one write path. No tables."""

    name = "apps.posthog_capture"
    label = "posthog_capture"
