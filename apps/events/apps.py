from django.apps import AppConfig


class EventsConfig(AppConfig):
    name = "apps.events"
    label = "events"

    def ready(self) -> None:
        from apps.ingest.registry import register

        from .models import Event, UserActivity
        from .schemas import EventIn, UserActivityIn

        register(
            "user_activity",
            model=UserActivity,
            schema=UserActivityIn,
            aliases=("user-activity",),
            session_writable=True,
        )
        register("event", model=Event, schema=EventIn, aliases=("events",), session_writable=True)
