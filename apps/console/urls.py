"""Mounted at /admin/console/ (before the admin's own URLs, which would take the path)."""

from django.urls import path

from . import ai, devices, errors, metrics, product, uptime, views

app_name = "console"

urlpatterns = [
    path("", views.overview, name="overview"),
    path("data/<slug:key>.json", views.panel, name="panel"),
    path("ai/", ai.ai_page, name="ai"),
    path("data/ai/page.json", ai.ai_data, name="ai-data"),
    path("data/ai/daily", ai.ai_daily, name="ai-daily"),
    path("errors/", errors.errors_page, name="errors"),
    path("errors/<int:error_id>/resolve", errors.resolve, name="error-resolve"),
    path("errors/<int:error_id>/reopen", errors.reopen, name="error-reopen"),
    path("devices/", devices.device_list, name="devices"),
    path("devices/data/devices.json", devices.device_list_data, name="device-list-data"),
    path("devices/<str:device_id>/", devices.device_page, name="device"),
    path(
        "devices/<str:device_id>/metrics.json",
        devices.device_metrics_data,
        name="device-metrics-data",
    ),
    path("metrics/", metrics.explorer, name="metrics"),
    path("uptime/", uptime.uptime_list, name="uptime"),
    path("uptime/data/services.json", uptime.uptime_list_data, name="uptime-data"),
    path("uptime/<int:service_id>/", uptime.uptime_service, name="uptime-service"),
    path(
        "uptime/<int:service_id>/data.json",
        uptime.uptime_service_data,
        name="uptime-service-data",
    ),
    path("product/", product.product, name="product"),
    path("product/users/<path:user_id>/", product.product_user, name="product-user"),
    path("data/product/user.json", product.product_user_data, name="product-user-data"),
    path("data/product/<slug:key>.json", product.product_data, name="product-data"),
]
