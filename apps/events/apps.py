from django.apps import AppConfig


class EventsConfig(AppConfig):
    name = "apps.events"
    label = "events"

    def ready(self) -> None:
        from apps.ingest.registry import register

        from .models import UserActivity
        from .schemas import UserActivityIn, enrich_user_activity

        register(
            "user_activity", model=UserActivity, schema=UserActivityIn, enrich=enrich_user_activity
        )
