from django.apps import AppConfig


class RequestlogConfig(AppConfig):
    name = "apps.requestlog"
    label = "requestlog"

    def ready(self) -> None:
        from apps.ingest.registry import register

        from .derive import request_metrics
        from .models import APIRequestLog
        from .schemas import RequestLogIn

        register(
            "request_log",
            model=APIRequestLog,
            schema=RequestLogIn,
            aliases=("requests", "request"),
            derive=request_metrics,
        )
