"""POST /otlp/v1/{metrics,traces,logs}: OTLP/HTTP, as the OpenTelemetry SDKs export.

Built as the ingest views are (apps.ingest.api.IngestView): an `ingest` key (X-API-Key
or Authorization: Bearer, as OTEL_EXPORTER_OTLP_HEADERS sends it), the ingest rate
limit, the pipeline's body limit and gzip. Answers are the specification's: 200 with
the Export*ServiceResponse in the request's encoding (protobuf or JSON), 400 with a
google.rpc.Status for a body that does not parse; 401/403/413/415/429/503 are the
API's JSON errors (OTLP clients act on the status code and Retry-After).
"""

from collections.abc import Callable

from drf_spectacular.utils import extend_schema
from rest_framework.views import APIView

from apps.core.negotiation import FirstRendererNegotiation
from apps.keys.authentication import APIKeyAuthentication
from apps.keys.models import Scope
from apps.keys.permissions import CanIngestWithKey

from . import protocol, services


@extend_schema(exclude=True)
class OtlpView(APIView):
    """One OTLP signal; subclasses name it and the service that stores it.

    Left out of the OpenAPI document: its bodies and answers are the OTLP specification's
    messages, not this API's shapes (docs/otlp.md says what it accepts and answers)."""

    authentication_classes = [APIKeyAuthentication]
    permission_classes = [CanIngestWithKey]
    content_negotiation_class = FirstRendererNegotiation
    required_scope = Scope.INGEST  # the ingest rate limit (apps.keys.throttling)
    signal: protocol.Signal
    export: Callable[..., services.ExportOutcome]  # a staticmethod: the signal's service

    def post(self, request, *args, **kwargs):
        json = protocol.is_json(request)
        try:
            message = protocol.read_message(request, self.signal)
        except protocol.UnparsableError as exc:
            return protocol.bad_request(str(exc), json=json)
        outcome = self.export(request=request, message=message)
        return protocol.export_response(
            self.signal, rejected=outcome.rejected, error_message=outcome.error_message, json=json
        )


class OtlpMetricsView(OtlpView):
    signal = protocol.METRICS
    export = staticmethod(services.metrics_export)


class OtlpTracesView(OtlpView):
    signal = protocol.TRACES
    export = staticmethod(services.traces_export)


class OtlpLogsView(OtlpView):
    signal = protocol.LOGS
    export = staticmethod(services.logs_export)
