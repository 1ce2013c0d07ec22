from django.contrib import admin
from django.urls import include, path, reverse_lazy
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from apps.ai import api as ai_api
from apps.alerts import api as alerts_api
from apps.devices.api import (
    DeviceMetricsIngestView,
    DeviceStateChangeIngestView,
    DeviceStateHistoryView,
)
from apps.errors.api import ErrorIngestView, ErrorTrendsView, issue_urls
from apps.events.api import EventsView, UserActivityIngestView
from apps.ingest.api import MixedBatchIngestView
from apps.insights import api as insights_api
from apps.jobs.api import JobOutcomeIngestView, JobOutcomesView
from apps.metrics.api import (
    MetricNamesView,
    MetricRecordView,
    MetricStatisticsView,
    MetricTimeSeriesView,
    PerformanceView,
    PrometheusView,
    TagValuesView,
)
from apps.monitoring import api as monitoring_api
from apps.otlp.api import OtlpLogsView, OtlpMetricsView, OtlpTracesView
from apps.overview.api import OverviewView
from apps.requestlog.api import ApiPerformanceView, RequestLogIngestView
from apps.sentry_ingest.api import EnvelopeView, StoreView
from apps.usage import api as usage_api

# The admin's "View site" link: the staff console (the default, "/", is a JSON 404 here).
admin.site.site_url = reverse_lazy("console:overview")

handler400 = "apps.core.errors.json_400"
handler403 = "apps.core.errors.json_403"
handler404 = "apps.core.errors.json_404"
handler500 = "apps.core.errors.json_500"

analytics = [
    path("health", monitoring_api.SystemHealthView.as_view(), name="health"),
    path("user-activity", UserActivityIngestView.as_view(), name="ingest-user-activity"),
    path("error", ErrorIngestView.as_view(), name="ingest-error"),
    path("device-state-change", DeviceStateChangeIngestView.as_view(), name="ingest-device-state"),
    path("device-metrics", DeviceMetricsIngestView.as_view(), name="ingest-device-metrics"),
    path("job-outcome", JobOutcomeIngestView.as_view(), name="ingest-job-outcome"),
    path("requests", RequestLogIngestView.as_view(), name="ingest-requests"),
    path("batch", MixedBatchIngestView.as_view(), name="ingest-batch"),
    path("events", EventsView.as_view(), name="events"),
    path("performance", PerformanceView.as_view(), name="performance"),
    path("metrics", OverviewView.as_view(), name="overview"),
    path("metrics/record", MetricRecordView.as_view(), name="metric-record"),
    path("metrics/names", MetricNamesView.as_view(), name="metric-names"),
    path(
        "metrics/<str:name>/tags/<str:key>/values",
        TagValuesView.as_view(),
        name="metric-tag-values",
    ),
    path("metrics/<str:name>/statistics", MetricStatisticsView.as_view(), name="metric-statistics"),
    path(
        "metrics/<str:name>/time-series", MetricTimeSeriesView.as_view(), name="metric-time-series"
    ),
    path("", include(ai_api.urls)),
    path("", include(usage_api.urls)),
    path("", include(insights_api.urls)),
    path("alerts/", include(alerts_api.urls)),
    path("", include(issue_urls)),
    path("monitoring/", include(monitoring_api.urls)),
]

metrics = [
    path("api-performance", ApiPerformanceView.as_view(), name="api-performance"),
    path("job-outcomes", JobOutcomesView.as_view(), name="job-outcomes"),
    path("error-trends", ErrorTrendsView.as_view(), name="error-trends"),
    path(
        "device-state-history/<str:device_id>",
        DeviceStateHistoryView.as_view(),
        name="device-state-history",
    ),
]

urlpatterns = [
    # Before the admin's own URLs, whose catch-all would take console/ for an app.
    path("admin/console/", include("apps.console.urls")),
    path("admin/", admin.site.urls),
    path("metrics", PrometheusView.as_view(), name="prometheus"),
    # The public status page: no sign-in, only the services staff marked public.
    path("status/", include("apps.status.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="docs"),
    path("api/v1/analytics/", include(analytics)),
    path("api/v1/metrics/", include(metrics)),
    # Where a Sentry DSN http://<ingest key>@HOST:PORT/<project_id> sends the SDKs: digits
    # only, so never api/v1/, api/schema/ or api/docs/. Also without the final slash: a POST
    # there must not meet APPEND_SLASH's redirect (a 500 under DEBUG).
    path("api/<int:project_id>/envelope/", EnvelopeView.as_view(), name="sentry-envelope"),
    path("api/<int:project_id>/envelope", EnvelopeView.as_view()),
    path("api/<int:project_id>/store/", StoreView.as_view(), name="sentry-store"),
    path("api/<int:project_id>/store", StoreView.as_view()),
    # OTLP/HTTP at the root: SDKs append /v1/<signal> to OTEL_EXPORTER_OTLP_ENDPOINT.
    path("otlp/v1/metrics", OtlpMetricsView.as_view(), name="otlp-metrics"),
    path("otlp/v1/traces", OtlpTracesView.as_view(), name="otlp-traces"),
    path("otlp/v1/logs", OtlpLogsView.as_view(), name="otlp-logs"),
    # PostHog's capture API where its SDKs post (their `host` is this service): /capture/,
    # /batch/, /e/, /i/v0/e/, /decide/, /flags/ (apps/posthog_capture, docs/posthog.md).
    path("", include("apps.posthog_capture.urls")),
]
