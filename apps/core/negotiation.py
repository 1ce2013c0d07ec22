"""Content negotiation of every API view: an unknown `?format=` is a 400 naming it."""

from rest_framework import permissions
from rest_framework.exceptions import ValidationError
from rest_framework.negotiation import DefaultContentNegotiation
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
