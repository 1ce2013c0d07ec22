from django.apps import AppConfig


class ErrorsConfig(AppConfig):
    name = "apps.errors"
    label = "errors"

    def ready(self) -> None:
        from apps.ingest.registry import register

        from .models import ErrorLog
        from .schemas import ErrorIn

        register("error", model=ErrorLog, schema=ErrorIn, session_writable=True)
