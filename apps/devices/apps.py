from django.apps import AppConfig


class DevicesConfig(AppConfig):
    name = "apps.devices"
    label = "devices"

    def ready(self) -> None:
        from apps.ingest.registry import register

        from .models import DeviceStateHistory
        from .schemas import DeviceStateChangeIn

        register("device_state", model=DeviceStateHistory, schema=DeviceStateChangeIn)
