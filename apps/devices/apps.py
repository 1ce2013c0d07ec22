from django.apps import AppConfig


class DevicesConfig(AppConfig):
    name = "apps.devices"
    label = "devices"

    def ready(self) -> None:
        from apps.ingest.registry import register

        from . import smartfilter
        from .models import DeviceMetric, DeviceStateHistory
        from .schemas import DeviceMetricsIn, DeviceStateChangeIn, enrich_device_metric

        register(
            "device_state",
            model=DeviceStateHistory,
            schema=DeviceStateChangeIn,
            aliases=("device-state-change", "device_state_change"),
        )
        register(
            "device_metric",
            model=DeviceMetric,
            schema=DeviceMetricsIn,
            aliases=("device-metrics", "device_metrics"),
            gate=smartfilter.gate,
            enrich=enrich_device_metric,
            enriched=("stored_reason",),
        )
