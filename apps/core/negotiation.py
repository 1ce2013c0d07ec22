"""Content negotiation of every API view: an unknown `?format=` is a 400 naming it; views
speaking another protocol answer JSON whatever is asked (FirstRendererNegotiation)."""

from rest_framework import permissions
from rest_framework.exceptions import ValidationError
from rest_framework.negotiation import BaseContentNegotiation, DefaultContentNegotiation
from rest_framework.settings import api_settings


class FormatParameterNegotiation(DefaultContentNegotiation):
    """DRF answers a format no renderer has with a 404, which suits a URL suffix
    (`/report.xml` names no resource) but not `?format=xml`, a bad parameter of an
    endpoint that exists: a 400 naming `format` and the formats there are. `?format=`
    (empty) too, as every empty parameter here (DRF would read it as absent). This
    project uses no format suffixes. The project's default (REST_FRAMEWORK
    DEFAULT_CONTENT_NEGOTIATION_CLASS), so every endpoint answers alike.

    A renderer marked `reads_only` (CSV, apps.core.renderers) is not offered to a write
    (POST, PUT, PATCH, DELETE): it answers JSON as it always has, and `?format=csv` on
    one is a 400 too. OPTIONS (a CORS preflight carries the query) keeps it, and is
    answered JSON by the renderer itself."""

    def select_renderer(self, request, renderers, format_suffix=None):
        if request.method not in permissions.SAFE_METHODS:
            renderers = [r for r in renderers if not getattr(r, "reads_only", False)]
        param = api_settings.URL_FORMAT_OVERRIDE  # DRF's setting ("format"), not Django's
        if not format_suffix and param and request.query_params.get(param) == "":
            self._refuse(renderers)
        return super().select_renderer(request, renderers, format_suffix)

    def filter_renderers(self, renderers, format):
        matching = [renderer for renderer in renderers if renderer.format == format]
        if not matching:
            self._refuse(renderers)
        return matching

    @staticmethod
    def _refuse(renderers) -> None:
        formats = ", ".join(renderer.format for renderer in renderers)
        raise ValidationError({"format": [f"One of: {formats}."]})


class FirstRendererNegotiation(BaseContentNegotiation):
    """`Accept` and `?format=` are not negotiated: the view's first parser and renderer
    (JSON unless the view says otherwise) answer whatever is asked for. For clients that
    send an Accept header of their own protocol (a Prometheus scraper, an OTLP exporter's
    `application/x-protobuf`, a browser's image request for a pixel): never a 406."""

    def select_parser(self, request, parsers):
        return parsers[0] if parsers else None

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type
