from django.apps import AppConfig


class MonitoringConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "apps.monitoring"
    label = "monitoring"
    verbose_name = "Health checks and SLA"

    def ready(self) -> None:
        from . import builtin  # noqa: F401 - registers the checks of this service's parts
