from django.apps import AppConfig
from django.core import checks


class CoreConfig(AppConfig):
    name = "apps.core"
    label = "core"

    def ready(self) -> None:
        checks.register(check_utc)


def check_utc(app_configs, **kwargs):
    from django.conf import settings

    if settings.TIME_ZONE != "UTC" or not settings.USE_TZ:
        return [checks.Error("TIME_ZONE must be 'UTC' with USE_TZ = True.", id="core.E001")]
    return []
