"""The endpoints a Sentry DSN `http://<ingest key>@HOST:PORT/<project_id>` makes the SDKs
post to: `/api/<project_id>/envelope/` and, for old SDKs, `/api/<project_id>/store/`.

Kept out of the OpenAPI document: their bodies are Sentry's formats, not this API's
(docs/sentry.md describes them). Errors are the API's JSON shape, 413/429/503 with
Retry-After as everywhere. Browser SDKs post from other sites: CORS as
apps.core.cors.CrossOriginWrites answers it.
"""

from drf_spectacular.utils import extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.core.cors import CrossOriginWrites
from apps.core.negotiation import FirstRendererNegotiation
from apps.keys.models import Scope
from apps.keys.permissions import CanIngestWithKey

from .authentication import SentryKeyAuthentication
from .services import envelope_ingest, store_ingest


class SentryIngestKey(CanIngestWithKey):
    message = "An ingest key is required as the DSN's public key."


class SentryView(CrossOriginWrites, APIView):
    required_scope = Scope.INGEST  # the ingest rate limit (apps.keys.throttling)
    authentication_classes = [SentryKeyAuthentication]
    permission_classes = [SentryIngestKey]
    parser_classes: list = []  # the service reads the body itself, within the limits
    content_negotiation_class = FirstRendererNegotiation
    ingest = staticmethod(envelope_ingest)

    @extend_schema(exclude=True)
    def post(self, request, project_id: int):
        answer = self.ingest(request=request, project_id=str(project_id))
        return Response(answer.body, status=answer.status)


class EnvelopeView(SentryView):
    ingest = staticmethod(envelope_ingest)
    envelope_dsn = True  # a tunnel's envelope: the key in its header's dsn


class StoreView(SentryView):
    ingest = staticmethod(store_ingest)
