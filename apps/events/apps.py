from django.apps import AppConfig


class EventsConfig(AppConfig):
    name = "apps.events"
    label = "events"

    def ready(self) -> None:
        from apps.ingest.registry import register

        from .models import Event, UserActivity
        from .schemas import EventIn, UserActivityIn, enrich_user_activity

        register(
            "user_activity", model=UserActivity, schema=UserActivityIn, enrich=enrich_user_activity
        )
        register("event", model=Event, schema=EventIn)
